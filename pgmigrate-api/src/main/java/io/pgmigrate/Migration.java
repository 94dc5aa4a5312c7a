package io.pgmigrate;

import java.time.Duration;
import java.util.Optional;

/**
 * One migration of one or more databases from a source server to a target server. Create it with
 * {@link #builder()}. Every method is safe to call again: {@link #start()} on a migration that is already running, or
 * from a new JVM with the same state store, continues where the servers are instead of failing or duplicating.
 *
 * <pre>{@code
 * try (Migration m = Migration.builder()
 *         .source(Endpoint.of("jdbc:postgresql://old:5432/").user("pgmigrate").password(secret))
 *         .target(Endpoint.of("jdbc:postgresql://new:5432/").user("pgmigrate").password(secret))
 *         .databases("shop", "analytics")
 *         .build()) {
 *     m.start();
 *     m.awaitInSync(Duration.ofMinutes(30));
 * }
 * }</pre>
 *
 * @since 0.1.0
 */
public interface Migration extends AutoCloseable {

    /**
     * A new builder.
     *
     * @return a builder with nothing set
     */
    static MigrationBuilder builder() {
        return new MigrationBuilder();
    }

    /**
     * The migration's name.
     *
     * @return the name given to {@link MigrationBuilder#name(String)}; {@code migration} by default
     */
    String name();

    /**
     * The configuration it was built with.
     *
     * @return the configuration, with every default filled in
     */
    MigrationConfig config();

    /**
     * Checks both servers and every database without changing anything, and returns every problem found with the fix.
     *
     * @return the findings; {@link #start()} refuses while any is a blocker
     */
    PreflightReport preflight();

    /**
     * Creates what the target needs (databases, schema), the publication on the source and the subscription on the
     * target, which copies every table and then streams changes. Returns once replication is set up; the copy goes
     * on in the servers. Runs {@link #preflight()} first and refuses to continue on a blocker.
     */
    void start();

    /**
     * Stops the stream of every database without dropping anything: the subscriptions are disabled, the slots keep
     * every change since, and {@link #start()} resumes (also after a cutover, where it resumes the reverse stream).
     * For a supervisor such as Pacemaker that stops and starts the migration. Refused in the middle of a cutover.
     */
    void pause();

    /**
     * Waits until every table is copied and the target has durably applied every transaction the source had committed
     * when this method was called. Listeners receive a status every progress interval meanwhile. Writes a few bytes
     * of WAL on the source (a logical-decoding message) to mark that point.
     *
     * @param timeout how long to wait at most
     * @return the status in which the migration was first seen in sync
     * @throws PgMigrateException with {@link CoreErrorCode#TIMEOUT} when {@code timeout} runs out first, or
     *                            {@link CoreErrorCode#REPLICATION_FAILED} when a database's phase is
     *                            {@link Phase#FAILED}; a stream's worker counts as failing again and again only on
     *                            failures seen while this method waits, so a call made just after removing the
     *                            cause waits for the stream instead of failing on earlier ones
     */
    MigrationStatus awaitInSync(Duration timeout);

    /**
     * The phase, lag and per-table copy state of every database, read from the servers now.
     *
     * @return the status, one entry per database in configuration order
     */
    MigrationStatus status();

    /**
     * What the migration's state store recorded, without connecting to any server: each database's phase as last
     * recorded, and the initial copy's progress from its journal. The lag is unknown ({@code -1}); each database's
     * message says the status is recorded, not read. For a machine that cannot reach the servers, or a quick look.
     *
     * @return the recorded status, one entry per database in configuration order
     * @since 0.2.0
     */
    MigrationStatus recordedStatus();

    /**
     * Compares every replicated table on both sides, range by range of its key (the primary key, or the replica
     * identity's index; a table with neither in one range): each server computes each range's row count and digest,
     * several ranges at a time, so memory stays constant and time grows with the table. Works while writes go on: a
     * range that differs is compared again at one position of both sides (writes to the table held on the side with
     * traffic for as long as the stream takes to bring them across, then read in one snapshot on each side), so only
     * real differences are reported. After a cutover the stream runs the other way and so does the recheck.
     *
     * @return one entry per replicated table, with the ranges that differ
     * @throws PgMigrateException with {@link CoreErrorCode#VERIFICATION_FAILED} when reading a table fails, or
     *                            {@link CoreErrorCode#TIMEOUT} when a recheck waits longer than two minutes for the
     *                            table's lock or for the stream
     */
    VerificationReport verify();

    /**
     * Copies again exactly the ranges a verification found different, from the side with traffic to the other, while
     * the stream runs, and compares them again. Each range is repaired at one position of both sides: writes to its
     * table are held on the side with traffic until the stream has brought every earlier one across, then the range
     * is deleted and copied in one transaction on the other side (in replica mode: no trigger, no foreign key fires),
     * and the writes go on, the stream applying them on top. Nothing written meanwhile is lost or applied twice.
     *
     * @param differences a report of {@link #verify()}; its tables that match are skipped
     * @return the comparison of the repaired ranges only, made under the same hold: per table, the rows in those
     *         ranges on each side and the ranges that still differ
     * @throws PgMigrateException with {@link CoreErrorCode#VERIFICATION_FAILED} when copying a range fails (its
     *                            transaction is rolled back, the range stays as it was), or
     *                            {@link CoreErrorCode#TIMEOUT} as for {@link #verify()}
     */
    VerificationReport repair(VerificationReport differences);

    /**
     * Copies one whole table again while the stream runs, range by range of its key as {@link
     * #repair(VerificationReport)} copies a range: writes to the table wait for one range at a time.
     *
     * @param database one of the migration's databases
     * @param schema   the table's schema
     * @param table    the table's name
     * @return the comparison of the table after the copy
     * @throws IllegalArgumentException when {@code database} is not one of the migration's databases or the table is
     *                                  not replicated
     */
    VerificationReport repair(String database, String schema, String table);

    /**
     * Moves traffic from the source to the target for every database together, in about a second: fences the source,
     * waits until the target has applied a sentinel written after the fence, copies sequences, prepares the reverse
     * stream, calls the {@link TrafficSwitch}, then stops the forward stream and starts the reverse one. The source
     * stays fenced. The move is journaled (inside the window only right before the switch, which is all recovery needs):
     * after a crash, calling {@code cutover()} again finishes it, and
     * {@link #rollback()} returns to the source. Returns the last report when the migration is already cut over.
     *
     * @return what the cutover did and how long writes were unavailable
     * @throws CutoverException when a step before the switch failed: every fence was lifted, traffic did not move,
     *                          and the exception's report says why
     */
    CutoverReport cutover();

    /**
     * Moves traffic back to the source with the same algorithm in the other direction, over the reverse stream, so
     * the writes made on the target meanwhile come along; the forward stream then runs again and the target stays
     * fenced. After a crash in the middle of a cutover, returns to the source instead: lifts the fence and leaves
     * traffic there.
     *
     * @return what the rollback (or the return after a crash) did and how long writes were unavailable
     * @throws CutoverException when a step before the switch failed; traffic stays on the target
     */
    CutoverReport rollback();

    /**
     * Brings a cutover or rollback that a crashed process left half done to a consistent end, without starting a new
     * one: a move that reached the traffic switch is finished (the new side may hold writes nobody else has), one that
     * did not is undone (fences lifted, traffic where it was). What a supervisor calls when it restarts: unlike
     * {@link #cutover()} and {@link #rollback()}, it never moves traffic in a direction nobody asked for.
     *
     * @return the report of the finished or undone move; empty when none was pending
     * @throws CutoverException when the undo could not lift a fence; calling again retries it
     */
    Optional<CutoverReport> recover();

    /**
     * Compares the source's and the target's schema of one migrated database at the catalog level: objects the target
     * lacks, objects only the target has, and objects whose definitions differ, each with both definitions.
     *
     * @param database one of the migration's databases
     * @return the differences, the source as the left side and the target as the right
     * @throws IllegalArgumentException when {@code database} is not one of the migration's databases
     * @throws PgMigrateException       with {@link CoreErrorCode#VERIFICATION_FAILED} when reading a catalog fails
     */
    SchemaDiff schemaDiff(String database);

    /**
     * Runs {@code sql} (one or more statements, in one transaction) in {@code database} on the side that does not take
     * traffic, which the migration keeps fenced: how a change made on the side with traffic that the stream does not
     * carry (a schema change, a {@code TRUNCATE} of one partition) is made on the other side too. It runs as the
     * migration's role through the fence and its DDL guard, with PostgreSQL's default {@code search_path}
     * ({@code "$user", public}), and is logged by its length only (the statements may hold values). Refused while a
     * cutover or rollback is pending.
     *
     * @param database one of the migration's databases
     * @param sql      the statements, separated by semicolons
     * @throws IllegalArgumentException when {@code database} is not one of the migration's databases, or {@code sql}
     *                                  is null
     * @throws PgMigrateException       {@link CoreErrorCode#REPLICATION_FAILED} with the server's error when a
     *                                  statement fails, nothing of {@code sql} being kept then;
     *                                  {@link CoreErrorCode#INVALID_PHASE} while a cutover or rollback is pending
     */
    void applyOnFencedSide(String database, String sql);

    /**
     * The fence of one database on one side, for tools that compose their own cutover.
     *
     * @param side     the side to fence
     * @param database one of the migration's databases
     * @return the fence of that database on that side
     * @throws IllegalArgumentException when {@code side} is null or {@code database} is not one of the migration's
     *                                  databases
     */
    Fence fence(Side side, String database);

    /**
     * The sentinel of the stream that {@code publisher} sends for one database.
     *
     * @param publisher {@link Side#SOURCE} for the forward stream, {@link Side#TARGET} for the reverse one
     * @param database  one of the migration's databases
     * @return the sentinel of that stream
     * @throws IllegalArgumentException when {@code publisher} is null or {@code database} is not one of the
     *                                  migration's databases
     */
    Sentinel sentinel(Side publisher, String database);

    /**
     * The sequence copy from {@code from} to the other side for one database.
     *
     * @param from     the side whose sequences are read
     * @param database one of the migration's databases
     * @return the sequence copy
     * @throws IllegalArgumentException when {@code from} is null or {@code database} is not one of the migration's
     *                                  databases
     */
    SequenceSync sequenceSync(Side from, String database);

    /**
     * Removes every object the migration created on both servers (subscriptions, publications, slots, origins) and
     * nothing else; the migrated data stays on the target. Then forgets the migration's state.
     */
    void complete();

    /** Releases this object's connections; replication goes on in the servers. */
    @Override
    void close();
}
