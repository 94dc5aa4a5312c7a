package io.pgmigrate.core.internal;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;

/**
 * The pause between two polls of a condition the servers cannot signal (a slot released, a worker gone, a sentinel
 * applied); callers grow it from milliseconds to a bound. An interrupt ends the wait with {@link CoreErrorCode#TIMEOUT}
 * and keeps the thread's interrupt flag.
 */
public final class Waits {

    private Waits() {
    }

    /** Sleeps {@code millis}; {@code database} names the wait in the error when interrupted, and may be null. */
    public static void pause(long millis, String database) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, database, "interrupted while waiting", e);
        }
    }
}
