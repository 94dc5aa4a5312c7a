package io.pgmigrate.core.cutover;

import io.pgmigrate.ErrorCode;
import io.pgmigrate.PgMigrateException;

/** The pause between two polls of a condition; callers grow it from milliseconds to a bound. */
final class Waits {

    private Waits() {
    }

    static void pause(long millis, String database) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(ErrorCode.TIMEOUT, database, "interrupted while waiting");
        }
    }
}
