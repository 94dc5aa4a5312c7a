package io.pgmigrate;

import java.time.Duration;

/**
 * A marker in one database's WAL on one side, and the wait until the other side has durably applied everything before
 * it. Obtain one with {@link Migration#sentinel(Side, String)}; the side is the stream's publisher.
 *
 * @since 0.1.0
 */
public interface Sentinel {

    /**
     * Writes a transactional logical-decoding message and returns the WAL position every transaction committed before
     * the call lies behind.
     *
     * @return that position, to pass to {@link #await(Lsn, Duration)}
     */
    Lsn emit();

    /**
     * Waits until the other side has durably applied the stream up to {@code lsn}: applied and flushed there and, when
     * it has synchronous standbys ({@code synchronous_standby_names}), flushed on them too, so a failover of the
     * other side right after the wait loses none of it.
     *
     * @param lsn     the position to wait for, usually one that {@link #emit()} returned
     * @param timeout how long to wait at most
     * @return the position the other side has confirmed, at or after {@code lsn}
     * @throws PgMigrateException with {@link CoreErrorCode#TIMEOUT} naming the position reached when {@code timeout}
     *                            runs out, or {@link CoreErrorCode#REPLICATION_FAILED} when the stream is disabled or
     *                            broken
     */
    Lsn await(Lsn lsn, Duration timeout);
}
