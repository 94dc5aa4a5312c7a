package io.pgmigrate;

/**
 * How the stream into the side without traffic applies changes, as far as the engine can tell.
 *
 * @param engine                the engine that applies
 * @param connections           sessions applying on the subscriber now: 1 for NATIVE's apply worker, the STREAM
 *                              worker's connections (1 while it applies a stretch in order after a conflict), 0 when
 *                              nothing applies in this process
 * @param transactions          source transactions committed on the subscriber since this process started the stream,
 *                              or -1 when the engine does not count them (NATIVE)
 * @param transactionsPerSecond source transactions per second since the previous status, or -1 when unknown
 * @param bytesPerSecond        WAL bytes per second the applied position advanced since the previous status, or -1
 *                              for the first status
 * @param queuedChanges         changes read from the publisher and not yet committed on the subscriber, or -1 when
 *                              the engine does not tell (NATIVE)
 * @param errors                how often applying failed (NATIVE: the subscription's {@code apply_error_count} since
 *                              its statistics were reset, PostgreSQL 15+; STREAM: failures since this process started
 *                              the stream), or -1 when unknown
 * @param conflicts             conflicts the apply met (NATIVE on a PostgreSQL 18+ subscriber: the sum of
 *                              {@code pg_stat_subscription_stats}' {@code confl_*} counts), or -1 when unknown
 * @since 0.1.0
 */
public record ApplyStatus(Engine engine, int connections, long transactions, double transactionsPerSecond,
                          double bytesPerSecond, long queuedChanges, long errors, long conflicts) {

    /** Nothing known: before the stream runs, or while the initial copy does. */
    public static final ApplyStatus UNKNOWN = new ApplyStatus(Engine.NATIVE, 0, -1, -1, -1, -1, -1, -1);

    /**
     * Checks the engine is given.
     *
     * @param engine                the engine that applies
     * @param connections           sessions applying now
     * @param transactions          transactions committed since this process started the stream, or -1
     * @param transactionsPerSecond transactions per second since the previous status, or -1
     * @param bytesPerSecond        WAL bytes per second applied since the previous status, or -1
     * @param queuedChanges         changes read and not yet committed, or -1
     * @param errors                how often applying failed, or -1
     * @param conflicts             conflicts the apply met, or -1
     */
    public ApplyStatus {
        if (engine == null) {
            throw new IllegalArgumentException("engine must not be null");
        }
    }

    /**
     * Apply figures without error and conflict counts (both -1).
     *
     * @param engine                the engine that applies
     * @param connections           sessions applying now
     * @param transactions          transactions committed since this process started the stream, or -1
     * @param transactionsPerSecond transactions per second since the previous status, or -1
     * @param bytesPerSecond        WAL bytes per second applied since the previous status, or -1
     * @param queuedChanges         changes read and not yet committed, or -1
     */
    public ApplyStatus(Engine engine, int connections, long transactions, double transactionsPerSecond,
                       double bytesPerSecond, long queuedChanges) {
        this(engine, connections, transactions, transactionsPerSecond, bytesPerSecond, queuedChanges, -1, -1);
    }
}
