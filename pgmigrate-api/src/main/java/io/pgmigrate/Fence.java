package io.pgmigrate;

import java.time.Instant;
import java.util.Optional;

/**
 * Makes one database on one side unwritable for every session except the migration's own, old sessions included,
 * and reversibly. Obtain one with {@link Migration#fence(Side, String)}. Writes attempted while it is engaged fail
 * with SQLSTATE 25006 (read_only_sql_transaction), whatever the session has set; replication apply workers still
 * write, so a stream into the fenced side keeps working.
 *
 * @since 0.1.0
 */
public interface Fence {

    /**
     * The side this fence is on.
     *
     * @return the side whose database this fence makes unwritable
     */
    Side side();

    /**
     * The database it fences.
     *
     * @return the database's name
     */
    String database();

    /**
     * Installs the fence ahead of time without engaging it, so that {@link #engage()} later takes no table lock and
     * fits in a short window. Takes a short lock on each table in turn, waiting out (with retries) transactions that
     * hold one. Idempotent; {@link #engage()} does it too when it was not done.
     */
    void prepare();

    /**
     * Engages the fence: from return on, no transaction can commit a write. Transactions that started before are
     * drained (waited for up to the drain timeout) and then terminated, prepared transactions must be resolved, and a
     * fresh session proves a write is refused. Idempotent.
     *
     * @throws PgMigrateException when the fence cannot be proven; it is then lifted again
     */
    void engage();

    /** Lifts the fence: the database is writable again at once. Idempotent. */
    void lift();

    /**
     * Whether the fence is engaged on the server now.
     *
     * @return true when the server refuses writes to the database now, as read from the server
     */
    boolean engaged();

    /**
     * When this object last engaged the fence.
     *
     * @return the time of its last {@link #engage()}; empty when it never engaged the fence
     */
    Optional<Instant> engagedAt();

    /**
     * When this object last lifted it.
     *
     * @return the time of its last {@link #lift()}; empty when it never lifted the fence
     */
    Optional<Instant> liftedAt();
}
