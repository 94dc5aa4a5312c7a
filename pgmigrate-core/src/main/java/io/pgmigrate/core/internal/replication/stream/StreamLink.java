package io.pgmigrate.core.internal.replication.stream;

import io.pgmigrate.CopyState;
import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Lsn;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Sentinel;
import io.pgmigrate.Side;
import io.pgmigrate.TableStatus;
import io.pgmigrate.core.internal.Mdc;
import io.pgmigrate.core.internal.Waits;
import io.pgmigrate.core.internal.replication.LinkState;
import io.pgmigrate.core.internal.replication.ReplicationLink;
import io.pgmigrate.core.internal.replication.nativ.NativeLink;
import io.pgmigrate.core.internal.replication.nativ.NativeSentinel;
import io.pgmigrate.core.internal.schema.TableRef;
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
import java.util.List;
import java.util.Optional;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * One database's STREAM link: a publication and a logical slot on the publisher, as for NATIVE, and on the subscriber
 * no subscription but a progress table (in the migration's schema there) and replication origins, written by a
 * {@link StreamWorker} that runs in this process. Whether the link is to run is journaled ({@link Flag#STREAM_ENABLED}
 * or {@link Flag#REVERSE_STREAM_ENABLED}); the process that drives the migration runs the workers of the enabled links.
 * The subscriber never connects to the publisher and stores no credentials.
 */
public final class StreamLink implements ReplicationLink {

    private static final Logger LOG = LoggerFactory.getLogger(StreamLink.class);

    /** The publication and the slot, managed as NATIVE manages them; its subscription is never created. */
    private final NativeLink objects;
    private final String database;
    private final Side publisher;
    private final String origin;
    private final String loopOrigin;
    private final String progressTable;
    private final Journal.DatabaseEntry journal;
    private final Sessions sessions;
    private final StreamWorkers workers;

    /**
     * @param origin      the replication origin the applying sessions run under on the subscriber ({@code _2} ...
     *                    appended for further connections), and the key of its row in the progress table
     * @param loopOrigin  the origin of the stream in the other direction: what the publisher received from it is not
     *                    applied (sent back), also from publishers before 16, which cannot filter by origin
     * @param schema      the migration's schema on the subscriber, which holds the progress table
     */
    public StreamLink(String database, Side publisher, String publication, String slot, String origin,
                      String loopOrigin, String schema, Journal.DatabaseEntry journal, Sessions sessions,
                      StreamWorkers workers) {
        this.objects = new NativeLink(database, publication, origin, slot, journal, publisher == Side.TARGET, null,
                null);
        this.database = database;
        this.publisher = publisher;
        this.origin = origin;
        this.loopOrigin = loopOrigin;
        this.progressTable = quote(schema) + "." + quote(publisher == Side.SOURCE ? "stream_progress"
                : "reverse_stream_progress");
        this.journal = journal;
        this.sessions = sessions;
        this.workers = workers;
    }

    /** Identifies the link among a process's workers. */
    String key() {
        return publisher + "\u0000" + database;
    }

    Side publisher() {
        return publisher;
    }

    String origin() {
        return origin;
    }

    String loopOrigin() {
        return loopOrigin;
    }

    String progressTable() {
        return progressTable;
    }

    private Flag setUpFlag() {
        return publisher == Side.SOURCE ? Flag.SUBSCRIPTION : Flag.REVERSE_SUBSCRIPTION;
    }

    private Flag enabledFlag() {
        return publisher == Side.SOURCE ? Flag.STREAM_ENABLED : Flag.REVERSE_STREAM_ENABLED;
    }

    private Flag originNoneFlag() {
        return publisher == Side.SOURCE ? Flag.STREAM_ORIGIN_NONE : Flag.REVERSE_STREAM_ORIGIN_NONE;
    }

    private String role(Side side) {
        return sessions.connector(side).role();
    }

    @Override
    public String database() {
        return database;
    }

    @Override
    public String publication() {
        return objects.publication();
    }

    @Override
    public String slot() {
        return objects.slot();
    }

    @Override
    public String applier() {
        return "stream " + origin;
    }

    @Override
    public boolean created() {
        return objects.created();
    }

    @Override
    public boolean exists(Connection subscriber) {
        return journal.flag(setUpFlag());
    }

    @Override
    public boolean enabled(Connection subscriber) {
        return journal.flag(enabledFlag());
    }

    @Override
    public boolean publicationExists(Connection publisher) throws SQLException {
        return objects.publicationExists(publisher);
    }

    @Override
    public String publicationLost(String publisherRole) {
        return objects.publicationLost(publisherRole);
    }

    @Override
    public void ensurePublicationOf(Connection publisher, List<TableRef> tables) throws SQLException {
        objects.ensurePublicationOf(publisher, tables);
    }

    @Override
    public List<TableRef> published(Connection publisher) throws SQLException {
        return objects.published(publisher);
    }

    /** Whether the link's slot is on the publisher. */
    public boolean slotPresent(Connection publisher) throws SQLException {
        return objects.slotPresent(publisher);
    }

    @Override
    public void prepare(Connection publisher, Connection subscriber, List<TableRef> tables) throws SQLException {
        objects.ensurePublicationOf(publisher, tables);
        objects.ensureSlot(publisher);
        ensureProgressTable(subscriber);
    }

    /** Creates the progress table on the subscriber unless it is there. */
    public void ensureProgressTable(Connection subscriber) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(publisher.other())) {
            Applier.createProgressTable(subscriber, progressTable);
        }
    }

    @Override
    public LinkState read(Connection publisher, Connection subscriber) throws SQLException {
        // The insert position, not the write position: with asynchronous commit the latter trails committed work.
        Lsn current = Lsn.parse(Queries.string(publisher, "SELECT pg_current_wal_insert_lsn()::text"));
        record Slot(Lsn confirmed, Duration lag, int activePid, long retained) { }
        Optional<Slot> slotRow = Queries.first(publisher, """
                SELECT s.confirmed_flush_lsn::text,
                       (SELECT extract(epoch FROM r.replay_lag) FROM pg_stat_replication r WHERE r.pid = s.active_pid),
                       coalesce(s.active_pid, 0),
                       coalesce(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), s.restart_lsn), -1)::bigint
                FROM pg_replication_slots s WHERE s.slot_name = ?
                """, rs -> {
            String lsn = rs.getString(1);
            double lagSeconds = rs.getDouble(2); // 0 when NULL
            return new Slot(lsn == null ? Lsn.ZERO : Lsn.parse(lsn), Duration.ofNanos((long) (lagSeconds * 1e9)),
                    rs.getInt(3), rs.getLong(4));
        }, slot());
        Optional<java.util.Map<TableRef, Long>> published = objects.publishedEstimates(publisher);
        List<TableStatus> tables = new ArrayList<>();
        // every row of a STREAM link's tables is there: pgmigrate's own copy finished before it was enabled
        published.orElse(java.util.Map.of()).forEach((t, estimate) -> tables.add(new TableStatus(t.schema(), t.name(),
                CopyState.READY, estimate, 0, 0)));
        boolean exists = exists(subscriber);
        boolean enabled = enabled(subscriber);
        Optional<StreamWorker> worker = workers.running(this);
        String problem = "";
        long applyErrors = worker.map(StreamWorker::failures).orElse(-1L);
        if (exists && slotRow.isEmpty()) {
            problem = "replication slot " + slot() + " is missing on the " + role(this.publisher);
        } else if (exists && enabled) {
            if ((worker.isEmpty() || worker.get().stopped()) && slotRow.get().activePid() != 0) {
                problem = ""; // streamed by another process: the migration's driver, as far as this one can tell
            } else if (worker.isEmpty() || worker.get().stopped()) {
                problem = "the " + applier() + " is to run but no process runs it (it runs in the process that"
                        + " drives the migration, and ends with it): call start() in that process";
            } else if (worker.get().failure().isPresent()) {
                problem = "the " + applier() + " failed " + worker.get().failures() + " times and starts again by"
                        + " itself; last: " + worker.get().failure().get().getMessage();
            }
        } else if (exists) {
            problem = "the " + applier() + " is stopped";
        }
        return new LinkState(exists, enabled, slotRow.isPresent(), current,
                slotRow.map(Slot::confirmed).orElse(Lsn.ZERO), slotRow.map(Slot::lag).orElse(Duration.ZERO), tables,
                List.of(), problem, applyErrors, published.isPresent(), slotRow.map(Slot::retained).orElse(-1L), -1);
    }

    @Override
    public void enable(Connection subscriber, boolean originNone) throws SQLException {
        if (originNone) {
            journal.mark(originNoneFlag()); // kept, as a subscription keeps its origin setting
        }
        journal.mark(enabledFlag());
        workers.start(this, journal.flag(originNoneFlag()));
    }

    /** Runs the link's worker in this process when the journal says the link is to run; false when it is not. */
    public boolean resume() throws SQLException {
        if (!journal.flag(enabledFlag())) {
            return false;
        }
        workers.start(this, journal.flag(originNoneFlag()));
        return true;
    }

    @Override
    public void disable(Connection subscriber) {
        journal.unmark(enabledFlag());
        workers.stop(this);
    }

    @Override
    public void awaitStopped(Connection subscriber, Duration timeout) throws SQLException {
        if (workers.running(this).isPresent()) {
            throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "the " + applier() + " did not"
                    + " stop: its thread still runs");
        }
        // Its walsender may outlive it by a moment; another process that still streams the slot would hold it longer.
        Connection pub = sessions.get(publisher, database);
        long deadline = System.nanoTime() + timeout.toNanos();
        long wait = 2;
        while (true) {
            Optional<Integer> pid = Queries.first(pub, "SELECT active_pid FROM pg_replication_slots"
                    + " WHERE slot_name = ? AND active_pid IS NOT NULL", rs -> rs.getInt(1), slot());
            if (pid.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "replication slot " + slot()
                        + " on the " + role(publisher) + " is still streamed by server process " + pid.get() + " "
                        + timeout + " after this process stopped its stream: another process streams it; stop it");
            }
            Waits.pause(wait, database);
            wait = Math.min(wait * 2, 50);
        }
    }

    @Override
    public Lsn moveStart(Connection publisher, Connection subscriber, Lsn lsn) throws SQLException {
        Lsn at = objects.advanceSlot(publisher, lsn);
        // A slot's new position reaches disk only at the next checkpoint; the progress row is durable at commit, and
        // a stream starts at the later of the two.
        ensureProgressTable(subscriber);
        try (Mdc.Scope onSide = Mdc.side(this.publisher.other())) {
            Queries.list(subscriber, "INSERT INTO " + progressTable + " AS p (origin, position, committed_at)"
                    + " VALUES (?, ?::pg_lsn, now()) ON CONFLICT (origin) DO UPDATE SET position = excluded.position,"
                    + " committed_at = excluded.committed_at WHERE p.position < excluded.position RETURNING 1",
                    rs -> null, origin, at.toString());
        }
        return at;
    }

    @Override
    public String keepIdleSlotCurrent(Connection publisher, Connection subscriber) throws SQLException {
        if (!exists(subscriber) || enabled(subscriber)) {
            return "";
        }
        if (!objects.slotPresent(publisher)) {
            return "replication slot " + slot() + ", kept for a move back, is gone: that move is no longer possible";
        }
        objects.advanceSlot(publisher, Lsn.parse(Queries.string(publisher, "SELECT pg_current_wal_flush_lsn()::text")));
        return "";
    }

    @Override
    public void drop(Connection publisher, Connection subscriber) throws SQLException {
        // not to run any more before anything is dropped: a process that ends in between must not start it again
        journal.unmark(enabledFlag());
        workers.stop(this);
        objects.drop(publisher, subscriber);
        if (subscriber != null) {
            try (Mdc.Scope onSide = Mdc.side(this.publisher.other())) {
                if (Queries.string(subscriber, "SELECT to_regclass(?)::text", progressTable) != null) {
                    Queries.execute(subscriber, "DROP TABLE " + progressTable);
                }
                for (String o : Queries.list(subscriber, "SELECT roname FROM pg_replication_origin WHERE roname = ?"
                        + " OR (left(roname, length(?) + 1) = ? || '_' AND substr(roname, length(?) + 2) ~ '^[0-9]+$')",
                        rs -> rs.getString(1), origin, origin, origin, origin)) {
                    Queries.first(subscriber, "SELECT pg_replication_origin_drop(?)", rs -> null, o);
                }
                LOG.info("{}: dropped the {}'s progress and replication origins on the {}", database, applier(),
                        role(this.publisher.other()));
            }
        }
        journal.unmark(enabledFlag());
        journal.unmark(originNoneFlag());
    }

    @Override
    public Applying applying(LinkState state) {
        Optional<StreamWorker> w = workers.running(this).filter(x -> !x.stopped());
        return w.map(x -> new Applying(x.connections(), x.transactions(), x.queued()))
                .orElse(new Applying(0, -1, -1));
    }

    @Override
    public io.pgmigrate.Engine engine() {
        return io.pgmigrate.Engine.STREAM;
    }

    @Override
    public Sentinel sentinel() {
        return new StreamSentinel();
    }

    /**
     * The sentinel of a STREAM link: the marker is written as for NATIVE ({@link NativeSentinel#emit(Connection)});
     * the wait ends when this process's worker holds every source transaction up to it on the subscriber, committed
     * with {@code synchronous_commit = on} (so on the subscriber's synchronous standbys too).
     */
    private final class StreamSentinel implements Sentinel {

        @Override
        public Lsn emit() {
            try {
                return NativeSentinel.emit(sessions.get(publisher, database));
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, database, "writing the sentinel on"
                        + " the " + role(publisher) + " failed", e);
            }
        }

        @Override
        public Lsn await(Lsn lsn, Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                StreamWorker w = workers.running(StreamLink.this).filter(x -> !x.stopped()).orElseThrow(() ->
                        new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, database, "the " + applier()
                                + " does not run in this process, so sentinel " + lsn + " cannot arrive on the "
                                + role(publisher.other()) + "; call start() first"));
                long left = deadline - System.nanoTime();
                if (w.awaitCommitted(lsn, Duration.ofNanos(Math.max(0, Math.min(left, 100_000_000L))))) {
                    return w.committed();
                }
                if (System.nanoTime() - deadline >= 0) {
                    Lsn at = w.committed();
                    throw new PgMigrateException(CoreErrorCode.TIMEOUT, database, "the " + role(publisher.other())
                            + " did not apply sentinel " + lsn + " within " + timeout + "; it holds everything up to "
                            + at + " (" + lsn.bytesAfter(at) + " bytes behind)" + w.failure().map(e -> "; the stream"
                            + " failed: " + e.getMessage()).orElse(""));
                }
            }
        }
    }
}
