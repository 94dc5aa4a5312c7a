package io.pgmigrate;

import java.time.Duration;
import java.util.List;

/**
 * Where one database of a migration stands.
 *
 * @param database        the database name
 * @param phase           its phase
 * @param sourceLsn       the source's current WAL position when the status was taken
 * @param confirmedLsn    the position up to which the target has durably applied the stream
 * @param lagBytes        WAL bytes between {@code confirmedLsn} and {@code sourceLsn}
 * @param lagTime         how far behind the target's apply is in time, as the source measures it; zero when idle
 * @param tables          the copy state of every replicated table
 * @param message         the last error when {@code phase} is {@link Phase#FAILED}, otherwise empty
 * @param apply           how the stream applies: rate, queue, parallelism ({@link ApplyStatus#UNKNOWN} before it runs)
 * @param retainedWalBytes the WAL the stream's slot keeps on the side with traffic (from the slot's restart position
 *                         to the current one: what a stalled stream costs in disk), or -1 when unknown
 * @since 0.1.0
 */
public record DatabaseStatus(String database, Phase phase, Lsn sourceLsn, Lsn confirmedLsn, long lagBytes,
                             Duration lagTime, List<TableStatus> tables, String message, ApplyStatus apply,
                             long retainedWalBytes) {

    /**
     * Makes an unmodifiable copy of {@code tables} and turns a null {@code message} into an empty string.
     *
     * @param database     the database name
     * @param phase        its phase
     * @param sourceLsn    the source's current WAL position when the status was taken
     * @param confirmedLsn the position up to which the target has durably applied the stream
     * @param lagBytes     WAL bytes between {@code confirmedLsn} and {@code sourceLsn}
     * @param lagTime      how far behind the target's apply is in time; zero when idle
     * @param tables       the copy state of every replicated table
     * @param message      the last error when {@code phase} is {@link Phase#FAILED}, otherwise null or empty
     * @param apply        how the stream applies; null for {@link ApplyStatus#UNKNOWN}
     * @param retainedWalBytes the WAL the stream's slot keeps, or -1
     */
    public DatabaseStatus {
        tables = List.copyOf(tables);
        message = message == null ? "" : message;
        apply = apply == null ? ApplyStatus.UNKNOWN : apply;
    }

    /**
     * A status without the retained WAL (-1).
     *
     * @param database     the database name
     * @param phase        its phase
     * @param sourceLsn    the source's current WAL position when the status was taken
     * @param confirmedLsn the position up to which the target has durably applied the stream
     * @param lagBytes     WAL bytes between {@code confirmedLsn} and {@code sourceLsn}
     * @param lagTime      how far behind the target's apply is in time; zero when idle
     * @param tables       the copy state of every replicated table
     * @param message      the last error when {@code phase} is {@link Phase#FAILED}, otherwise null or empty
     * @param apply        how the stream applies; null for {@link ApplyStatus#UNKNOWN}
     */
    public DatabaseStatus(String database, Phase phase, Lsn sourceLsn, Lsn confirmedLsn, long lagBytes,
                          Duration lagTime, List<TableStatus> tables, String message, ApplyStatus apply) {
        this(database, phase, sourceLsn, confirmedLsn, lagBytes, lagTime, tables, message, apply, -1);
    }

    /**
     * A status without apply figures ({@link ApplyStatus#UNKNOWN}).
     *
     * @param database     the database name
     * @param phase        its phase
     * @param sourceLsn    the source's current WAL position when the status was taken
     * @param confirmedLsn the position up to which the target has durably applied the stream
     * @param lagBytes     WAL bytes between {@code confirmedLsn} and {@code sourceLsn}
     * @param lagTime      how far behind the target's apply is in time; zero when idle
     * @param tables       the copy state of every replicated table
     * @param message      the last error when {@code phase} is {@link Phase#FAILED}, otherwise null or empty
     */
    public DatabaseStatus(String database, Phase phase, Lsn sourceLsn, Lsn confirmedLsn, long lagBytes,
                          Duration lagTime, List<TableStatus> tables, String message) {
        this(database, phase, sourceLsn, confirmedLsn, lagBytes, lagTime, tables, message, ApplyStatus.UNKNOWN, -1);
    }

    /**
     * Whether every table has finished its initial copy.
     *
     * @return true when every table is {@link CopyState#READY}, also when there are none
     */
    public boolean allTablesReady() {
        return tables.stream().allMatch(t -> t.state() == CopyState.READY);
    }
}
