package io.pgmigrate;

import java.time.Duration;

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
 */
public interface Migration extends AutoCloseable {

    /** A new builder. */
    static MigrationBuilder builder() {
        return new MigrationBuilder();
    }

    /** The migration's name. */
    String name();

    /** The configuration it was built with. */
    MigrationConfig config();

    /**
     * Checks both servers and every database without changing anything, and returns every problem found with the fix.
     */
    PreflightReport preflight();

    /**
     * Creates what the target needs (databases, schema), the publication on the source and the subscription on the
     * target, which copies every table and then streams changes. Returns once replication is set up; the copy goes
     * on in the servers. Runs {@link #preflight()} first and refuses to continue on a blocker.
     */
    void start();

    /**
     * Waits until every table is copied and the target has durably applied every transaction the source had committed
     * when this method was called. Listeners receive a status every progress interval meanwhile. Writes a few bytes
     * of WAL on the source (a logical-decoding message) to mark that point.
     *
     * @throws PgMigrateException with {@link ErrorCode#TIMEOUT} when {@code timeout} runs out first
     */
    MigrationStatus awaitInSync(Duration timeout);

    /** The phase, lag and per-table copy state of every database, read from the servers now. */
    MigrationStatus status();

    /**
     * Compares every replicated table on both sides: row counts and a digest of all rows in primary-key order. Meant
     * for when writes are paused (or after cutover); under load the two sides differ by the in-flight changes.
     */
    VerificationReport verify();

    /**
     * Removes every object the migration created on both servers (subscriptions, publications, slots, origins) and
     * nothing else; the migrated data stays on the target. Then forgets the migration's state.
     */
    void complete();

    /** Releases this object's connections; replication goes on in the servers. */
    @Override
    void close();
}
