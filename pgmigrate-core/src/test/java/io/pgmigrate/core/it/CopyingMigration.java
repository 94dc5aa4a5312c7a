package io.pgmigrate.core.it;

import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;

import java.nio.file.Path;

/**
 * A migration in its own JVM whose initial copy runs slowly (one worker, small parts, a rate limit), so
 * {@link CopyCrashIT} can kill it mid-copy. Arguments: source host, source port, target host, target port, user,
 * state directory, migration name, database. Prints {@link #COPYING} once {@code start()} returned, then waits for
 * its copy, which its non-daemon threads run, and the kill.
 */
public final class CopyingMigration {

    static final String COPYING = "COPYING";

    private CopyingMigration() {
    }

    public static void main(String[] args) throws Exception {
        Migration m = Migration.builder()
                .name(args[6])
                .source(Endpoint.of(args[0], Integer.parseInt(args[1]), null).user(args[4]))
                .target(Endpoint.of(args[2], Integer.parseInt(args[3]), null).user(args[4]))
                .databases(args[7])
                .stateDirectory(Path.of(args[5]))
                .copyWorkers(1)
                .copyPartSize(1L << 20)
                .copyRateLimit(1L << 20)
                .build();
        m.start();
        System.out.println(COPYING);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
