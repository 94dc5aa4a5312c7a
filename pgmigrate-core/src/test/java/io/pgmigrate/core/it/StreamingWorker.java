package io.pgmigrate.core.it;

import io.pgmigrate.Endpoint;
import io.pgmigrate.core.internal.replication.stream.LogicalStream;
import io.pgmigrate.core.internal.replication.stream.StreamWorker;
import io.pgmigrate.core.internal.sql.Connector;

import java.time.Duration;

/**
 * A STREAM worker in its own JVM, for {@link StreamCrashIT} to kill while it applies. Arguments: source host, source
 * port, target host, target port, user, database, slot, origin, publication, source major, connections. Prints
 * {@link #STREAMING} once started, then applies until killed.
 */
public final class StreamingWorker {

    static final String STREAMING = "STREAMING";

    private StreamingWorker() {
    }

    public static void main(String[] args) throws Exception {
        Connector source = new Connector(Endpoint.of(args[0], Integer.parseInt(args[1]), null).user(args[4]), "source",
                Duration.ofSeconds(10), 3);
        Connector target = new Connector(Endpoint.of(args[2], Integer.parseInt(args[3]), null).user(args[4]), "target",
                Duration.ofSeconds(10), 3);
        StreamWorker.start(source, target, new StreamWorker.Settings(args[5], args[6], args[7], "public.pgmigrate_stream_progress",
                new LogicalStream.Options(args[8], Integer.parseInt(args[9]), false), Duration.ofSeconds(10),
                Integer.parseInt(args[10]), 200));
        System.out.println(STREAMING);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
