package io.pgmigrate;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A validated migration configuration, as {@link MigrationBuilder#build()} hands it to the implementation.
 *
 * @param name                 prefix of every object the migration creates, and its state key
 * @param source               the server to migrate from
 * @param target               the server to migrate to
 * @param sourceAsSeenByTarget how the target server reaches the source (NATIVE engine); usually {@code source}
 * @param databases            the databases to migrate, in order
 * @param engine               how changes travel
 * @param trafficSwitch        what points traffic at a side during cutover
 * @param listeners            progress and phase listeners
 * @param stateStore           where the journal is kept
 * @param progressInterval     how often listeners get a status while pgmigrate waits
 * @param connectTimeout       bound on opening one connection
 * @param connectAttempts      attempts for transient connection failures, with exponential backoff
 * @param targetAsSeenBySource how the source server reaches the target (the reverse stream); usually {@code target}
 * @param cutover              the cutover's bounds and margins
 * @param schema               how the target's schema is created
 * @param copy                 how the initial copy runs
 * @since 0.1.0
 */
public record MigrationConfig(String name, Endpoint source, Endpoint target, Endpoint sourceAsSeenByTarget,
                              List<String> databases, Engine engine, TrafficSwitch trafficSwitch,
                              List<MigrationListener> listeners, StateStore stateStore, Duration progressInterval,
                              Duration connectTimeout, int connectAttempts, Endpoint targetAsSeenBySource,
                              CutoverSettings cutover, SchemaSettings schema, CopySettings copy) {

    /**
     * Makes unmodifiable copies of {@code databases} and {@code listeners}.
     *
     * @param name                 prefix of every object the migration creates, and its state key
     * @param source               the server to migrate from
     * @param target               the server to migrate to
     * @param sourceAsSeenByTarget how the target server reaches the source
     * @param databases            the databases to migrate, in order
     * @param engine               how changes travel
     * @param trafficSwitch        what points traffic at a side during cutover
     * @param listeners            progress and phase listeners
     * @param stateStore           where the journal is kept
     * @param progressInterval     how often listeners get a status while pgmigrate waits
     * @param connectTimeout       bound on opening one connection
     * @param connectAttempts      attempts for transient connection failures
     * @param targetAsSeenBySource how the source server reaches the target
     * @param cutover              the cutover's bounds and margins
     * @param schema               how the target's schema is created
     * @param copy                 how the initial copy runs
     */
    public MigrationConfig {
        databases = List.copyOf(databases);
        listeners = List.copyOf(listeners);
    }

    /**
     * Bounds of a cutover.
     *
     * @param timeout        bound on the sentinel wait; the cutover is abandoned when it runs out
     * @param maxLagBytes    the cutover fences nothing while any stream is further behind than this
     * @param drainTimeout   how long transactions that began before the fence may run on before they are terminated
     * @param sequenceMargin increments added to each sequence copied to the new side
     * @param catchUpTimeout how long the cutover waits for every stream to come within {@code maxLagBytes} before it
     *                       refuses
     * @param acceptedLeftBehind kinds of data the stream does not carry that a cutover may leave on the old side
     * @param verifyBudget   how long a cutover compares the tables inside the fence before the switch; zero: it does
     *                       not ({@link MigrationBuilder#verifyBeforeSwitch(Duration)})
     * @param refreshMaterializedViews whether a cutover refreshes, on the new side before the fence, the materialized
     *                       views the old side has populated
     * @param sequenceRateHorizon how far ahead of its observed rate each sequence is moved on the new side, on top of
     *                       {@code sequenceMargin}; zero: not at all ({@link MigrationBuilder#sequenceMarginByRate})
     */
    public record CutoverSettings(Duration timeout, long maxLagBytes, Duration drainTimeout, long sequenceMargin,
                                  Duration catchUpTimeout, Set<LeftBehind> acceptedLeftBehind, Duration verifyBudget,
                                  boolean refreshMaterializedViews, Duration sequenceRateHorizon) {

        /**
         * Settings without verification before the switch, refreshing materialized views: as 0.1 had them.
         *
         * @param timeout            bound on the sentinel wait
         * @param maxLagBytes        the largest lag at which the cutover fences
         * @param drainTimeout       how long transactions that began before the fence may run on
         * @param sequenceMargin     increments added to each sequence copied to the new side
         * @param catchUpTimeout     how long the cutover waits for every stream to come within {@code maxLagBytes}
         * @param acceptedLeftBehind kinds of data the stream does not carry that a cutover may leave on the old side
         */
        public CutoverSettings(Duration timeout, long maxLagBytes, Duration drainTimeout, long sequenceMargin,
                               Duration catchUpTimeout, Set<LeftBehind> acceptedLeftBehind) {
            this(timeout, maxLagBytes, drainTimeout, sequenceMargin, catchUpTimeout, acceptedLeftBehind, Duration.ZERO,
                    true, Duration.ZERO);
        }

        /**
         * Makes an unmodifiable copy of {@code acceptedLeftBehind}.
         *
         * @param timeout            bound on the sentinel wait
         * @param maxLagBytes        the largest lag at which the cutover fences
         * @param drainTimeout       how long transactions that began before the fence may run on
         * @param sequenceMargin     increments added to each sequence copied to the new side
         * @param catchUpTimeout     how long the cutover waits for every stream to come within {@code maxLagBytes}
         * @param acceptedLeftBehind kinds of data the stream does not carry that a cutover may leave on the old side
         * @param verifyBudget       how long a cutover compares the tables inside the fence; zero: it does not
         * @param refreshMaterializedViews whether a cutover refreshes the new side's materialized views
         * @param sequenceRateHorizon how far ahead of its observed rate each sequence is moved; zero: not at all
         */
        public CutoverSettings {
            acceptedLeftBehind = acceptedLeftBehind.isEmpty() ? Set.of()
                    : Collections.unmodifiableSet(EnumSet.copyOf(acceptedLeftBehind));
        }
    }

    /**
     * How the target's schema is created.
     *
     * @param strategy           catalog copy, pg_dump, or none (the user's)
     * @param pgDump             the pg_dump executable PG_DUMP uses; empty: search the {@code PATH} and the usual
     *                           installation directories
     * @param ownershipAndGrants whether the schema copy also sets each object's owner and copies its grants
     * @param changes            what happens to schema changes made while the migration runs
     */
    public record SchemaSettings(SchemaStrategy strategy, Optional<Path> pgDump, boolean ownershipAndGrants,
                                 SchemaChanges changes) {
    }

    /**
     * How the initial copy runs.
     *
     * @param workers           how many tables or parts of tables are copied at once, over all databases; 0 sizes it
     *                          to the servers (see {@link MigrationBuilder#copyWorkers(int)})
     * @param maxBytesPerSecond the most the copy reads from the source per second, over all workers; 0 for no limit
     * @param partBytes         tables larger than this are copied in parts of about this size, several at once
     * @since 0.2.0
     */
    public record CopySettings(int workers, long maxBytesPerSecond, long partBytes) {
    }

    @Override
    public String toString() {
        return "MigrationConfig[name=" + name + ", source=" + source + ", target=" + target + ", databases=" + databases
                + ", engine=" + engine + ", schema=" + schema.strategy() + ", trafficSwitch=" + trafficSwitch.description() + ", stateStore=" + stateStore
                + "]";
    }
}
