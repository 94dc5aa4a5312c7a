package io.pgmigrate.core.internal.replication.nativ;

import io.pgmigrate.CopyState;
import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.TableStatus;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.copy.SnapshotSlot;
import io.pgmigrate.core.internal.replication.LinkState;
import io.pgmigrate.core.internal.replication.ReplicationLink;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

import static io.pgmigrate.core.internal.sql.Identifiers.conninfoValue;
import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * One database's stream with PostgreSQL's own logical replication: a publication on the publishing side and a
 * subscription on the subscribing side. The forward link (source to target) has the subscription create its slot and
 * copy every table; the reverse link (target to source), prepared at cutover, gets a slot created ahead and copies
 * nothing. Creation is idempotent; an object is created only after its name is in the journal, so an object found
 * without a journal entry is someone else's and is never touched. Connections are named for the roles they play here:
 * {@code source} is the publisher, {@code target} the subscriber.
 */
public final class NativeLink implements ReplicationLink {

    private static final Logger LOG = LoggerFactory.getLogger(NativeLink.class);

    /** libpq keywords that pgjdbc properties of the same name map to. */
    private static final List<String> LIBPQ_PASSTHROUGH = List.of("sslmode", "sslrootcert", "sslcert", "sslkey",
            "sslcrl", "sslpassword", "target_session_attrs", "connect_timeout");

    private final String database;
    private final String publication;
    private final String subscription;
    private final String slot;
    private final Journal.DatabaseEntry journal;
    /** Whether this is the reverse link, whose objects the journal records under their own flags. */
    private final boolean reverse;
    /** How the link's sentinel reaches both sides; null for a link that only manages objects. */
    private final Sessions sessions;
    /** How the subscriber reaches the publisher, for {@link #prepare}; null for a link that only manages objects. */
    private final java.util.function.Supplier<Peer> peer;

    /** How a subscription reaches its publisher: the endpoint and, when one is to be stored, its password. */
    public record Peer(Endpoint endpoint, Optional<String> password) {
    }

    /** How a subscription is created. */
    public record Options(boolean createSlot, boolean copyData, boolean enabled, boolean originNone) {
        /** The forward link: the subscription creates its slot and copies every table. */
        public static final Options FORWARD = new Options(true, true, true, false);
    }

    /** The forward link; journal flags {@link Flag#PUBLICATION} and {@link Flag#SUBSCRIPTION}. */
    public NativeLink(String database, String publication, String subscription, String slot,
                      Journal.DatabaseEntry journal) {
        this(database, publication, subscription, slot, journal, false, null, null);
    }

    /**
     * @param reverse whether this is the reverse link (journal flags {@link Flag#REVERSE_PUBLICATION} and
     *                {@link Flag#REVERSE_SUBSCRIPTION}), so the forward and reverse links of one database keep
     *                separate records
     * @param sessions the migration's sessions, for the link's sentinel; null for a link that only manages objects
     * @param peer     how the subscriber reaches the publisher (read when a subscription is created by
     *                 {@link #prepare}); null for a link that only manages objects
     */
    public NativeLink(String database, String publication, String subscription, String slot,
                      Journal.DatabaseEntry journal, boolean reverse, Sessions sessions,
                      java.util.function.Supplier<Peer> peer) {
        this.database = database;
        this.publication = publication;
        this.subscription = subscription;
        this.slot = slot;
        this.journal = journal;
        this.reverse = reverse;
        this.sessions = sessions;
        this.peer = peer;
    }

    @Override
    public String database() {
        return database;
    }

    @Override
    public String applier() {
        return "subscription " + subscription;
    }

    @Override
    public boolean exists(Connection subscriber) throws SQLException {
        return subscriptionExists(subscriber);
    }

    @Override
    public boolean enabled(Connection subscriber) throws SQLException {
        return subscriptionEnabled(subscriber);
    }

    @Override
    public void prepare(Connection publisher, Connection subscriber, List<TableRef> tables) throws SQLException {
        if (peer == null) {
            throw new IllegalStateException("this link was made without the way its subscriber reaches the publisher");
        }
        ensurePublicationOf(publisher, tables);
        ensureSlot(publisher);
        dropIfStale(publisher, subscriber);
        Peer reach = peer.get();
        ensureSubscription(publisher, subscriber, reach.endpoint(), reach.password(),
                new Options(false, false, false, false));
    }

    @Override
    public void enable(Connection subscriber, boolean originNone) throws SQLException {
        if (originNone) {
            originNone(subscriber);
        }
        enable(subscriber);
    }

    @Override
    public void awaitStopped(Connection subscriber, Duration timeout) throws SQLException {
        awaitWorkerGone(subscriber, timeout);
    }

    @Override
    public Lsn moveStart(Connection publisher, Connection subscriber, Lsn lsn) throws SQLException {
        Lsn at = advanceSlot(publisher, lsn);
        // A slot's new position reaches disk only at the next checkpoint; the subscription's origin, moved too, is
        // WAL-logged, and a restarted stream starts at the later of the two.
        advanceOrigin(subscriber, at);
        return at;
    }

    @Override
    public Applying applying(LinkState state) {
        // one apply worker per subscription; PostgreSQL counts neither its transactions nor what it holds
        return new Applying(state.enabled() ? 1 : 0, -1, -1);
    }

    @Override
    public io.pgmigrate.Engine engine() {
        return io.pgmigrate.Engine.NATIVE;
    }

    @Override
    public io.pgmigrate.Sentinel sentinel() {
        if (sessions == null) {
            throw new IllegalStateException("this link was made without sessions");
        }
        return new NativeSentinel(sessions, publisher(), database, slot, subscription);
    }

    /** The side this link's publication and slot are on. */
    private Side publisher() {
        return reverse ? Side.TARGET : Side.SOURCE;
    }

    /** The side this link's subscription is on. */
    private Side subscriber() {
        return publisher().other();
    }

    private Flag publicationFlag() {
        return reverse ? Flag.REVERSE_PUBLICATION : Flag.PUBLICATION;
    }

    private Flag subscriptionFlag() {
        return reverse ? Flag.REVERSE_SUBSCRIPTION : Flag.SUBSCRIPTION;
    }

    /** Whether the journal says this migration created any of the link's objects. */
    public boolean created() {
        return journal.flag(publicationFlag()) || journal.flag(subscriptionFlag());
    }

    public String publication() {
        return publication;
    }

    public String subscription() {
        return subscription;
    }

    public String slot() {
        return slot;
    }

    /** Whether the subscription exists on the target. */
    public boolean subscriptionExists(Connection target) throws SQLException {
        return subscription(target).isPresent();
    }

    /** Creates the publication for {@code tables} unless it is already there. */
    public void ensurePublication(Connection source, List<TableRef> tables) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            boolean exists = publicationExists(source);
            if (exists) {
                requireOurs(publicationFlag(), publication, "publication", "DROP PUBLICATION " + quote(publication));
                return;
            }
            journal.mark(publicationFlag());
            // A partitioned table is published as itself, not as its partitions: the subscriber has the same table and
            // routes each row by its own bounds, and a row moving between partitions stays one update.
            String sql = "CREATE PUBLICATION " + quote(publication)
                    + (tables.isEmpty() ? "" : " FOR TABLE " + tables.stream().map(TableRef::quoted)
                    .collect(Collectors.joining(", ")))
                    + (source.getMetaData().getDatabaseMajorVersion() >= 13
                    ? " WITH (publish_via_partition_root = true)" : "");
            try {
                Queries.execute(source, sql);
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database,
                        "cannot create publication " + publication + " on the publisher", e);
            }
            LOG.info("{}: created publication {} on the publisher for {} tables", database, publication, tables.size());
        }
    }

    /**
     * Makes the publication publish exactly {@code tables}: created when missing, its table set replaced when ours and
     * different. The journal's flag alone proves nothing: a process may have died between marking and creating.
     */
    public void ensurePublicationOf(Connection publisher, List<TableRef> tables) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            if (!publicationExists(publisher)) {
                ensurePublication(publisher, tables);
                return;
            }
            requireOurs(publicationFlag(), publication, "publication", "DROP PUBLICATION " + quote(publication));
            if (tables.isEmpty() || publishedTables(publisher).equals(Set.copyOf(tables))) {
                return;
            }
            Queries.execute(publisher, "ALTER PUBLICATION " + quote(publication) + " SET TABLE "
                    + tables.stream().map(TableRef::quoted).collect(Collectors.joining(", ")));
            LOG.info("{}: publication {} now publishes {} tables", database, publication, tables.size());
        }
    }

    /**
     * Drops a disabled subscription (keeping its slot and the journal's record) whose tables are not the
     * publication's: a disabled subscription cannot be refreshed, and once enabled it would skip the changes of every
     * table it does not list. {@link #ensureSubscription} then creates it again on the same slot.
     */
    public void dropIfStale(Connection publisher, Connection subscriber) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Optional<Subscription> sub = subscription(subscriber);
            if (sub.isEmpty() || sub.get().enabled()) {
                return;
            }
            requireOurs(subscriptionFlag(), subscription, "subscription", "DROP SUBSCRIPTION " + quote(subscription));
            Set<TableRef> listed = Set.copyOf(Queries.list(subscriber, """
                    SELECT n.nspname, c.relname FROM pg_subscription_rel sr
                    JOIN pg_class c ON c.oid = sr.srrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE sr.srsubid = ?
                    """, rs -> new TableRef(rs.getString(1), rs.getString(2)), sub.get().oid()));
            if (listed.equals(publishedTables(publisher))) {
                return;
            }
            Queries.execute(subscriber, "ALTER SUBSCRIPTION " + quote(subscription) + " SET (slot_name = NONE)");
            Queries.execute(subscriber, "DROP SUBSCRIPTION " + quote(subscription));
            LOG.info("{}: dropped disabled subscription {} to create it again for the publication's tables", database,
                    subscription);
        }
    }

    private Set<TableRef> publishedTables(Connection publisher) throws SQLException {
        return Set.copyOf(Queries.list(publisher, "SELECT schemaname, tablename FROM pg_publication_tables"
                + " WHERE pubname = ?", rs -> new TableRef(rs.getString(1), rs.getString(2)), publication));
    }

    /**
     * Creates the subscription (and with it the slot on the source and the initial copy) unless it exists; enables it
     * when it exists but is disabled.
     *
     * @param sourceForTarget how the target server reaches the source
     * @param password        the password for that connection, if any
     */
    public void ensureSubscription(Connection source, Connection target, Endpoint sourceForTarget,
                                   Optional<String> password) throws SQLException {
        ensureSubscription(source, target, sourceForTarget, password, Options.FORWARD);
    }

    /**
     * Creates the subscription as {@code options} say unless it exists; enables an existing one only when {@code
     * options.enabled()}. Without {@code createSlot} the slot must exist: see {@link #ensureSlot}.
     */
    public void ensureSubscription(Connection source, Connection target, Endpoint sourceForTarget,
                                   Optional<String> password, Options options) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Optional<Subscription> sub = subscription(target);
            boolean slotExists = slotExists(source);
            if (sub.isPresent()) {
                requireOurs(subscriptionFlag(), subscription, "subscription", "DROP SUBSCRIPTION " + quote(subscription));
                if (!slotExists) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, database, "replication slot " + slot
                            + " is gone from the publisher, so changes since it was lost cannot be streamed; call complete()"
                            + " and start the migration again (the target's tables must be emptied first)");
                }
                if (options.enabled() && !sub.get().enabled()) {
                    enable(target);
                }
                return;
            }
            if (options.createSlot() && slotExists) {
                requireOurs(subscriptionFlag(), slot, "replication slot",
                        "SELECT pg_drop_replication_slot(" + literal(slot) + ")");
                // Our slot without our subscription: CREATE SUBSCRIPTION created it and then failed, or we crashed before
                // the subscription committed. Nothing has consumed it, so it is safe to drop and create afresh.
                dropSlot(source);
            }
            if (!options.createSlot() && !slotExists && options.enabled()) {
                throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, database, "replication slot " + slot
                        + " must exist before subscription " + subscription + " is created");
            }
            journal.mark(subscriptionFlag());
            String conninfo = conninfo(sourceForTarget.database(database), password);
            String sql = "CREATE SUBSCRIPTION " + quote(subscription) + " CONNECTION " + literal(conninfo)
                    + " PUBLICATION " + quote(publication)
                    + " WITH (slot_name = " + literal(slot) + ", create_slot = " + options.createSlot()
                    + ", copy_data = " + options.copyData() + ", enabled = " + options.enabled()
                    + (options.originNone() ? ", origin = none" : "") + ")";
            try {
                Queries.execute(target, sql);
            } catch (SQLException e) {
                // The statement holds the password: report the server's message only.
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database,
                        "cannot create subscription " + subscription + " on the subscriber (it connects to the publisher as "
                                + sourceForTarget.database(database) + ")", e);
            }
            LOG.info("{}: created subscription {}{}", database, subscription,
                    options.copyData() ? "; the initial copy has started" : "");
        }
    }

    /**
     * Creates the link's logical slot on the publisher unless it is there. The slot keeps every change committed after
     * its creation, so a stream started later from it misses nothing.
     */
    public void ensureSlot(Connection source) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            if (slotExists(source)) {
                requireOurs(subscriptionFlag(), slot, "replication slot", "SELECT pg_drop_replication_slot(" + literal(slot) + ")");
                return;
            }
            journal.mark(subscriptionFlag());
            Queries.first(source, "SELECT pg_create_logical_replication_slot(?, 'pgoutput')", rs -> null, slot);
            LOG.info("{}: created replication slot {}", database, slot);
        }
    }

    /**
     * Creates the link's slot with an exported snapshot, for a copy pgmigrate runs itself ({@link SnapshotSlot}). A
     * slot of ours found there already (a copy that ended before its stream started) is dropped first: nothing has
     * consumed it, and its snapshot ended with the process that created it.
     */
    public SnapshotSlot createSlotWithSnapshot(Connection source, Connector replication) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            if (slotExists(source)) {
                requireOurs(subscriptionFlag(), slot, "replication slot",
                        "SELECT pg_drop_replication_slot(" + literal(slot) + ")");
                dropSlot(source);
            }
            journal.mark(subscriptionFlag());
            return SnapshotSlot.create(replication, database, slot);
        }
    }

    /** Whether the subscription exists and is enabled. */
    public boolean subscriptionEnabled(Connection target) throws SQLException {
        return subscription(target).map(Subscription::enabled).orElse(false);
    }

    /** Whether the link's slot exists on the publisher. */
    public boolean slotPresent(Connection source) throws SQLException {
        return slotExists(source);
    }

    /** Drops the link's slot, when it is there and ours. */
    public void dropOwnSlot(Connection source) throws SQLException {
        if (journal.flag(subscriptionFlag()) && slotExists(source)) {
            dropSlot(source);
        }
    }

    /**
     * Adds the publication's tables the subscription lacks; PostgreSQL's table synchronisation copies each of them
     * in a snapshot of its own and joins it to the stream once it caught up.
     */
    public void refreshCopying(Connection target) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription)
                    + " REFRESH PUBLICATION WITH (copy_data = true)");
            LOG.info("{}: subscription {} copies the tables it lacked", database, subscription);
        }
    }

    /** The tables the publication publishes. */
    public List<TableRef> published(Connection publisher) throws SQLException {
        List<TableRef> out = new ArrayList<>(publishedTables(publisher));
        out.sort(null);
        return out;
    }

    /**
     * Moves the slot forward to {@code lsn} without sending what lies before, so a stream started later begins there.
     * Used at cutover, when everything before is already on the other side.
     */
    public Lsn advanceSlot(Connection source, Lsn lsn) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            Lsn confirmed = Queries.first(source, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = ?",
                    rs -> Lsn.parse(rs.getString(1)), slot).orElseThrow(() -> new PgMigrateException(
                    CoreErrorCode.REPLICATION_OBJECT_LOST, database, "replication slot " + slot + " is gone"));
            if (confirmed.isAtOrAfter(lsn)) {
                return confirmed; // the server refuses to move a slot backwards
            }
            releaseSlot(source, slot);
            return Lsn.parse(Queries.string(source, "SELECT end_lsn::text FROM pg_replication_slot_advance(?, ?::pg_lsn)",
                    slot, lsn.toString()));
        }
    }

    /**
     * For the link that does not run (the way back after a cutover, the way forth after a rollback): moves its slot
     * to the publisher's current position while its subscription is disabled. The next move starts the link there
     * anyway ({@link #advanceSlot} in its prepare and window), so whatever older WAL the slot kept would only pin the
     * publisher's disk, or, past {@code max_slot_wal_keep_size}, get the slot invalidated and the move with it.
     *
     * @return why the link could not carry a move back any more, or empty
     */
    public String keepIdleSlotCurrent(Connection publisher, Connection subscriber) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            Optional<Subscription> sub = subscription(subscriber);
            if (sub.isEmpty() || sub.get().enabled()) {
                return "";
            }
            if (!slotExists(publisher)) {
                return "replication slot " + slot + ", kept for a move back, is gone: that move is no longer possible";
            }
            advanceSlot(publisher, Lsn.parse(Queries.string(publisher, "SELECT pg_current_wal_flush_lsn()::text")));
            return "";
        }
    }

    /**
     * Moves the subscription's replication origin forward to {@code lsn} (never back), so the stream resumes there
     * even if the publisher's slot lost its latest position in a crash. The subscription must be disabled.
     */
    public void advanceOrigin(Connection target, Lsn lsn) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Optional<Subscription> sub = subscription(target);
            if (sub.isEmpty()) {
                return;
            }
            String origin = "pg_" + sub.get().oid();
            Lsn current = Queries.first(target, "SELECT coalesce(pg_replication_origin_progress(?, false), '0/0')::text",
                    rs -> Lsn.parse(rs.getString(1)), origin).orElse(Lsn.ZERO);
            if (!current.isAtOrAfter(lsn)) {
                Queries.first(target, "SELECT pg_replication_origin_advance(?, ?::pg_lsn)", rs -> null, origin,
                        lsn.toString());
            }
        }
    }

    /** Waits until the subscription has no apply worker any more (after {@link #disable}, which only asks it to stop). */
    public void awaitWorkerGone(Connection target, Duration timeout) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            long deadline = System.nanoTime() + timeout.toNanos();
            long wait = 2;
            while (Queries.exists(target, """
                    SELECT 1 FROM pg_stat_subscription ss JOIN pg_subscription s ON s.oid = ss.subid
                    WHERE s.subname = ? AND ss.pid IS NOT NULL
                      AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """, subscription)) {
                if (System.nanoTime() > deadline) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "the workers of subscription "
                            + subscription + " did not stop within " + timeout + " of DISABLE");
                }
                Waits.pause(wait, database);
                wait = Math.min(wait * 2, 50);
            }
        }
    }

    /** Enables the subscription. */
    public void enable(Connection target) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription) + " ENABLE");
            LOG.info("{}: enabled subscription {}", database, subscription);
        }
    }

    /** Disables the subscription; its apply worker exits and its slot keeps the changes from here on. */
    public void disable(Connection target) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription) + " DISABLE");
            LOG.info("{}: disabled subscription {}", database, subscription);
        }
    }

    /** Makes the subscription skip changes that were themselves replicated (PostgreSQL 16 and later). */
    public void originNone(Connection target) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(subscriber())) {
            Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription) + " SET (origin = none)");
        }
    }

    /**
     * Each table the publication publishes with the publisher's row estimate, sorted; empty when the publication is
     * not there. From pg_publication, so the same round trip says whether the publication is there at all (no row)
     * or publishes nothing (one row of NULLs).
     */
    public Optional<Map<TableRef, Long>> publishedEstimates(Connection publisher) throws SQLException {
        record Published(TableRef table, long estimate) { }
        List<Published> rows = Queries.list(publisher, """
                SELECT pt.schemaname, pt.tablename, c.reltuples::bigint
                FROM pg_publication p
                LEFT JOIN pg_publication_tables pt ON pt.pubname = p.pubname
                LEFT JOIN pg_namespace n ON n.nspname = pt.schemaname
                LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
                WHERE p.pubname = ?
                ORDER BY 1, 2
                """, rs -> new Published(rs.getString(1) == null ? null : new TableRef(rs.getString(1),
                rs.getString(2)), rs.getLong(3)), publication);
        if (rows.isEmpty()) {
            return Optional.empty();
        }
        Map<TableRef, Long> out = new java.util.LinkedHashMap<>();
        for (Published r : rows) {
            if (r.table() != null) {
                out.put(r.table(), r.estimate());
            }
        }
        return Optional.of(out);
    }

    /** The link's positions and each table's copy state. */
    public LinkState read(Connection source, Connection target) throws SQLException {
        // The insert position, not the write position: with asynchronous commit the latter trails committed work.
        Lsn current = Lsn.parse(Queries.string(source, "SELECT pg_current_wal_insert_lsn()::text"));
        record Slot(Lsn confirmed, Duration lag, long retained) { }
        Optional<Slot> slotRow = Queries.first(source, """
                SELECT confirmed_flush_lsn::text,
                       (SELECT extract(epoch FROM r.replay_lag) FROM pg_stat_replication r
                        WHERE r.application_name = ? ORDER BY r.backend_start DESC LIMIT 1),
                       coalesce(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), restart_lsn), -1)::bigint
                FROM pg_replication_slots WHERE slot_name = ?
                """, rs -> {
            String lsn = rs.getString(1);
            double lagSeconds = rs.getDouble(2); // 0 when NULL
            return new Slot(lsn == null ? Lsn.ZERO : Lsn.parse(lsn), Duration.ofNanos((long) (lagSeconds * 1e9)),
                    rs.getLong(3));
        }, subscription, slot);
        Lsn confirmed = slotRow.map(Slot::confirmed).orElse(Lsn.ZERO);
        Duration lagTime = slotRow.map(Slot::lag).orElse(Duration.ZERO);

        Optional<Map<TableRef, Long>> published = publishedEstimates(source);
        Map<TableRef, Long> estimates = published.orElse(Map.of());

        Optional<Subscription> sub = subscription(target);
        List<TableStatus> tables = List.of();
        String problem = "";
        boolean enabled = sub.map(Subscription::enabled).orElse(false);
        long applyErrors = -1;
        long conflicts = -1;
        if (sub.isPresent()) {
            // The reverse stream's subscriber is the source, which may be older than 14: no copy progress there.
            String progress = target.getMetaData().getDatabaseMajorVersion() >= 14 ? """
                    LEFT JOIN pg_stat_progress_copy p ON p.relid = sr.srrelid
                         AND p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """ : "LEFT JOIN (SELECT NULL::oid AS relid, 0::bigint AS tuples_processed,"
                    + " 0::bigint AS bytes_processed) p ON false\n";
            tables = Queries.list(target, """
                    SELECT n.nspname, c.relname, sr.srsubstate, p.tuples_processed, p.bytes_processed
                    FROM pg_subscription_rel sr
                    JOIN pg_class c ON c.oid = sr.srrelid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    """ + progress + """
                    WHERE sr.srsubid = ?
                    ORDER BY n.nspname, c.relname
                    """, rs -> {
                TableRef t = new TableRef(rs.getString(1), rs.getString(2));
                CopyState state = switch (rs.getString(3)) {
                    case "i" -> CopyState.PENDING;
                    case "d" -> CopyState.COPYING;
                    case "f", "s" -> CopyState.CATCHING_UP;
                    case "r" -> CopyState.READY;
                    default -> CopyState.PENDING;
                };
                long rows = state == CopyState.COPYING ? rs.getLong(4) : 0;
                long bytes = state == CopyState.COPYING ? rs.getLong(5) : 0;
                return new TableStatus(t.schema(), t.name(), state, estimates.getOrDefault(t, -1L), rows, bytes);
            }, sub.get().oid());
            if (!enabled) {
                problem = "subscription " + subscription + " is disabled on the subscriber";
            } else if (slotRow.isEmpty()) {
                problem = "replication slot " + slot + " is missing on the publisher";
            } else {
                long[] errors = errorCounts(target, sub.get().oid());
                applyErrors = errors[0];
                conflicts = errors[2];
                if (errors[0] + errors[1] > 0) {
                    problem = "the subscription's workers failed " + errors[0] + " times applying changes and "
                            + errors[1] + " times copying tables; the subscriber's server log has the errors";
                }
            }
        }
        // A published table the subscription does not list is skipped by the apply worker without an error.
        List<TableRef> unsubscribed = new ArrayList<>();
        if (sub.isPresent()) {
            Set<TableRef> subscribed = new HashSet<>();
            tables.forEach(t -> subscribed.add(new TableRef(t.schema(), t.table())));
            estimates.keySet().stream().filter(t -> !subscribed.contains(t)).sorted()
                    .forEach(unsubscribed::add);
        }
        if (!unsubscribed.isEmpty()) {
            // Listed as pending, so nothing reports the link in sync: a REFRESH makes them pending for real.
            List<TableStatus> all = new ArrayList<>(tables);
            unsubscribed.forEach(t -> all.add(new TableStatus(t.schema(), t.name(), CopyState.PENDING,
                    estimates.getOrDefault(t, -1L), 0, 0)));
            tables = all;
            String skipped = "tables " + unsubscribed + " are in publication " + publication + " but not in subscription "
                    + subscription + ", so their changes are skipped: run ALTER SUBSCRIPTION " + quote(subscription)
                    + " REFRESH PUBLICATION on the subscriber (it copies their rows)";
            problem = problem.isEmpty() ? skipped : skipped + "; " + problem;
        }
        return new LinkState(sub.isPresent(), enabled, slotRow.isPresent(), current, confirmed, lagTime, tables,
                unsubscribed, problem, applyErrors, published.isPresent(), slotRow.map(Slot::retained).orElse(-1L),
                conflicts);
    }

    public boolean publicationExists(Connection publisher) throws SQLException {
        return Queries.exists(publisher, "SELECT 1 FROM pg_publication WHERE pubname = ?", publication);
    }

    /**
     * What to do when the publication of a running stream is gone: it cannot simply be created again, because the
     * publisher decodes each change with the catalog as it was when the change was written, where the publication
     * did not exist (PostgreSQL 18 skips such changes instead): the changes written in between are not streamed.
     */
    public String publicationLost(String publisherRole) {
        return "publication " + publication + " is gone from the " + publisherRole + " (someone dropped it), so the"
                + " changes written since cannot be streamed: the publisher decodes each change with the catalog of its"
                + " time, where the publication did not exist. Every table of the stream may have missed changes;"
                + " call complete() and start the migration again (the target's tables must be emptied first)";
    }

    /**
     * Removes the subscription (with its slot and origin), leftovers of its copy workers, and the publication: only
     * those the journal says this migration created, so a same-named object of someone else is never dropped.
     *
     * @param source a connection to the publisher's database, or null when that database does not exist
     * @param target a connection to the subscriber's database, or null when that database does not exist
     */
    public void drop(Connection source, Connection target) throws SQLException {
        Optional<Long> oid = journal.flag(subscriptionFlag()) && target != null
                ? subscription(target).map(Subscription::oid) : Optional.empty();
        if (oid.isPresent()) {
            // Detach the slot first: a plain DROP SUBSCRIPTION fails when the slot is already gone or the source cannot
            // be reached, which would make a lost slot impossible to clean up. The slots are dropped below instead.
            try (Mdc.Scope onSide = Mdc.side(subscriber())) {
                Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription) + " DISABLE");
                Queries.execute(target, "ALTER SUBSCRIPTION " + quote(subscription) + " SET (slot_name = NONE)");
                Queries.execute(target, "DROP SUBSCRIPTION " + quote(subscription));
                LOG.info("{}: dropped subscription {} on the subscriber", database, subscription);
            }
            for (String origin : Queries.list(target,
                    "SELECT roname FROM pg_replication_origin WHERE roname = ? OR roname LIKE ?",
                    rs -> rs.getString(1), "pg_" + oid.get(), "pg\\_" + oid.get() + "\\_%")) {
                Queries.first(target, "SELECT pg_replication_origin_drop(?)", rs -> null, origin);
            }
            for (String copySlot : source == null ? List.<String>of() : Queries.list(source,
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE ?", rs -> rs.getString(1),
                    "pg\\_" + oid.get() + "\\_sync\\_%")) {
                dropSlotNamed(source, copySlot);
            }
        }
        if (journal.flag(subscriptionFlag()) && source != null && slotExists(source)) {
            dropSlot(source);
        }
        if (journal.flag(publicationFlag()) && source != null) {
            Queries.execute(source, "DROP PUBLICATION IF EXISTS " + quote(publication));
        }
        journal.unmark(subscriptionFlag());
        journal.unmark(publicationFlag());
    }

    private void dropSlot(Connection source) throws SQLException {
        dropSlotNamed(source, slot);
    }

    private void dropSlotNamed(Connection source, String name) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher())) {
            releaseSlot(source, name);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            long wait = 10;
            while (true) {
                try {
                    Queries.first(source, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                            + " WHERE slot_name = ?", rs -> null, name);
                    LOG.info("{}: dropped replication slot {} on the publisher", database, name);
                    return;
                } catch (SQLException e) {
                    // 55006: object in use; the terminated walsender has not exited yet.
                    if (!"55006".equals(e.getSQLState()) || System.nanoTime() > deadline) {
                        throw e;
                    }
                }
                Waits.pause(wait, database);
                wait = Math.min(wait * 2, 500);
            }
        }
    }

    /** Terminates the walsender that holds the slot, if any, and waits until it let go. */
    private void releaseSlot(Connection source, String name) throws SQLException {
        // A walsender may still hold the slot for a moment after its subscriber went away.
        Queries.first(source, """
                SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                WHERE slot_name = ? AND active_pid IS NOT NULL
                """, rs -> null, name);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        long wait = 2;
        while (Queries.exists(source, "SELECT 1 FROM pg_replication_slots WHERE slot_name = ? AND active_pid IS NOT NULL",
                name)) {
            if (System.nanoTime() > deadline) {
                throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "replication slot " + name
                        + " is still in use 10 s after its walsender was terminated");
            }
            Waits.pause(wait, database);
            wait = Math.min(wait * 2, 100);
        }
    }

    private boolean slotExists(Connection source) throws SQLException {
        return Queries.exists(source, "SELECT 1 FROM pg_replication_slots WHERE slot_name = ?", slot);
    }

    /** The subscription's catalog row, when it exists. */
    private record Subscription(long oid, boolean enabled) {
    }

    private Optional<Subscription> subscription(Connection target) throws SQLException {
        return Queries.first(target, """
                SELECT s.oid, s.subenabled FROM pg_subscription s
                WHERE s.subname = ? AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                """, rs -> new Subscription(rs.getLong(1), rs.getBoolean(2)), subscription);
    }

    /**
     * The apply and copy workers' error counts, and the conflicts the apply met (the sum of PostgreSQL 18's
     * {@code confl_*} columns); -1 each where the server does not count them (errors before 15, conflicts before 18).
     */
    private long[] errorCounts(Connection target, long oid) throws SQLException {
        // pgjdbc knows the server version from the connection start-up: no round trip on every status poll.
        int major = target.getMetaData().getDatabaseMajorVersion();
        if (major < 15) {
            return new long[]{-1, -1, -1};
        }
        // the conflict columns by their prefix, so a later release's new kinds count too
        return Queries.first(target, """
                SELECT s.apply_error_count, s.sync_error_count,
                       (SELECT coalesce(sum(e.value::bigint), -1) FROM jsonb_each_text(to_jsonb(s)) e
                        WHERE e.key LIKE 'confl\\_%')
                FROM pg_stat_subscription_stats s WHERE s.subid = ?
                """, rs -> new long[]{rs.getLong(1), rs.getLong(2), rs.getLong(3)}, oid)
                .orElse(new long[]{0, 0, major >= 18 ? 0 : -1});
    }

    private void requireOurs(Flag flag, String name, String kind, String fix) {
        if (!journal.flag(flag)) {
            throw new PgMigrateException(CoreErrorCode.NAME_COLLISION, database, "a " + kind + " named " + name
                    + " already exists and was not created by this migration; give the migration another name(...),"
                    + " or if it is a leftover: " + fix);
        }
    }

    static String conninfo(Endpoint source, Optional<String> password) {
        StringBuilder b = new StringBuilder();
        append(b, "host", source.host());
        append(b, "port", Integer.toString(source.port()));
        source.user().ifPresent(u -> append(b, "user", u));
        if (password.isPresent()) {
            append(b, "password", password.get());
        } else {
            // A path on the subscriber's machine: libpq in the subscription's worker reads it there.
            source.passfile().ifPresent(f -> append(b, "passfile", f.toString()));
        }
        source.database().ifPresent(d -> append(b, "dbname", d));
        source.properties().forEach((k, v) -> {
            if (LIBPQ_PASSTHROUGH.contains(k)) {
                append(b, k, v);
            }
        });
        return b.toString();
    }

    private static void append(StringBuilder b, String key, String value) {
        if (b.length() > 0) {
            b.append(' ');
        }
        b.append(key).append('=').append(conninfoValue(value));
    }
}
