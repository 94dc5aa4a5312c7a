package io.pgmigrate.core.it;

import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;

import java.nio.file.Path;

/**
 * A cutover in its own JVM that stops inside the traffic switch, after the fence, sentinel, sequences and reverse
 * stream, so {@link CutoverCrashIT} can kill it there. Arguments: source host, source port, target host, target port,
 * user, state directory, migration name, database.
 */
public final class CrashingCutover {

    static final String SWITCHING = "SWITCHING";

    private CrashingCutover() {
    }

    public static void main(String[] args) throws Exception {
        TrafficSwitch hang = new TrafficSwitch() {
            @Override
            public void switchTo(Side side) {
                System.out.println(SWITCHING);
                System.out.flush();
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
                .stateDirectory(Path.of(args[5]))
                .trafficSwitch(hang)
                .build()) {
            m.cutover();
        }
    }
}
