package io.pgmigrate.core.it;

import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A cutover in its own JVM that stops inside the traffic switch, after the fence, sentinel, sequences and reverse
 * stream, so {@link CutoverCrashIT} can kill it there. Arguments: source host, source port, target host, target port,
 * user, state directory, migration name, database, and optionally a loopback control port: then the switch first asks
 * the test, over that port, to move its proxy, and stops only after traffic has moved. With the system property
 * {@code crash.move=rollback} it runs a rollback instead; {@code crash.engine} names the engine (default NATIVE).
 */
public final class CrashingCutover {

    static final String SWITCHING = "SWITCHING";
    static final String SWITCHED = "SWITCHED";

    private CrashingCutover() {
    }

    public static void main(String[] args) throws Exception {
        TrafficSwitch hang = new TrafficSwitch() {
            @Override
            public void switchTo(Side side) {
                Side moving = "rollback".equals(System.getProperty("crash.move")) ? Side.SOURCE : Side.TARGET;
                if (side != moving) {
                    // an undo switches back (traffic never moved): not the switch the test waits for
                    System.out.println("UNDOING");
                    System.out.flush();
                    return;
                }
                System.out.println(SWITCHING);
                System.out.flush();
                if (args.length > 8) {
                    try (Socket control = new Socket(InetAddress.getLoopbackAddress(), Integer.parseInt(args[8]));
                         var out = new PrintWriter(control.getOutputStream(), true, StandardCharsets.UTF_8);
                         var in = new BufferedReader(new InputStreamReader(control.getInputStream(),
                                 StandardCharsets.UTF_8))) {
                        out.println(side.name());
                        if (!"OK".equals(in.readLine())) {
                            throw new IllegalStateException("the test did not switch its proxy");
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    System.out.println(SWITCHED);
                    System.out.flush();
                }
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        };
        try (Migration m = Migration.builder()
                .name(args[6])
                .source(Endpoint.of(args[0], Integer.parseInt(args[1]), null).user(args[4]))
                .target(Endpoint.of(args[2], Integer.parseInt(args[3]), null).user(args[4]))
                .databases(args[7])
                .engine(io.pgmigrate.Engine.valueOf(System.getProperty("crash.engine", "NATIVE")))
                .stateDirectory(Path.of(args[5]))
                .trafficSwitch(hang)
                .build()) {
            if ("rollback".equals(System.getProperty("crash.move"))) {
                m.rollback();
            } else {
                m.cutover();
            }
        }
    }
}
