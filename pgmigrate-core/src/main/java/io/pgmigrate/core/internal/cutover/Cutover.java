package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport.SequenceValue;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.LeftBehind;
import io.pgmigrate.Lsn;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.core.internal.preflight.LeftBehindCheck;
import io.pgmigrate.core.internal.replication.LinkState;
import io.pgmigrate.core.internal.replication.ReplicationLink;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.state.FinishedMove;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import io.pgmigrate.core.internal.state.PendingMove.Step;
import io.pgmigrate.core.internal.state.PendingMove;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Moves traffic from one side to the other for every database of a migration together (DESIGN section 5). The same
 * code runs a cutover (to the target) and a rollback (to the source). The journal gets the move's start, PREPARED, the
 * intent (with the window's start) right before the window, and inside it only SWITCHING, right before the switch: so
 * a new process can finish a cutover that got past the traffic switch, or undo one that did not. Inside the window the
 * fence, the large objects, the sequences and the reverse stream check this process's lock first, as every journal
 * write does. Lifting the new side's fence and releasing the traffic after the switch do not: a process that got as
 * far as the switch finishes its move.
 *
 * <p>Per database, the stream into the side traffic moves to is the <em>inbound</em> link; the one back, prepared
 * during the cutover, the <em>outbound</em> link. Steps: pre-check (every inbound stream in sync, nothing touched
 * otherwise); prepare (fence triggers installed inert on the old side, outbound publication, slot and disabled
 * subscription); then the write-unavailable window: engage the fences, sentinel, sequences, move the outbound slot to
 * the new side's current position, switch traffic, lift the new side's fence if it had one. After the window the inbound
 * subscription is disabled before the outbound one is enabled, so the two directions never run at once.
 */
public final class Cutover {

    private static final Logger LOG = LoggerFactory.getLogger(Cutover.class);

    /** What the cutover needs from the migration. */
    public interface Context {
        MigrationConfig config();

        Sessions sessions();

        Journal journal();

        /** The link whose publisher is {@code publisher}: SOURCE gives the forward link, TARGET the reverse one. */
        ReplicationLink link(Side publisher, String database);

        TriggerFence fence(Side side, String database);

        /** The DDL capture of {@code database} (both sides). */
        io.pgmigrate.core.internal.ddl.DdlCarry ddl(String database);

        /**
         * NATIVE: subscribes the tables that joined the publication since the subscription last read it (their copy
         * starts); returns them, empty when there were none.
         */
        List<TableRef> subscribeNewTables(String database);

        /** Whether both servers run PostgreSQL 16 or later, so subscriptions can skip replicated changes. */
        boolean originFilter();

        /** Hands the migration's current status to its listeners, while the cutover waits for a backlog. */
        void progress();

        /**
         * Throws {@link CoreErrorCode#MIGRATION_IN_USE} unless this process still drives the migration: a process that
         * lost its lock (its session was ended while it hung) must not undo or finish what a newer one did.
         */
        void checkOwner();

        void phase(String database, Phase phase);

        /** A step of the move to {@code to} is done: for the listeners. */
        void stepDone(Side to, CutoverReport.Step step);

        /**
         * Compares every replicated table of {@code database} on both sides once per range (inside the fence, where
         * neither changes), taking no new range once {@code deadline} ({@link System#nanoTime()}) has passed.
         */
        Verified verifyInsideFence(String database, long deadline);
    }

    /**
     * Tables compared inside the fence.
     *
     * @param tables   each table compared, in whole or in part
     * @param complete whether every range of every table was compared before the deadline
     */
    public record Verified(List<io.pgmigrate.TableVerification> tables, boolean complete) {
    }

    private final Context ctx;
    private final MigrationConfig config;
    private final Sessions sessions;
    private final Journal journal;

    public Cutover(Context ctx) {
        this.ctx = ctx;
        this.config = ctx.config();
        this.sessions = ctx.sessions();
        this.journal = ctx.journal();
    }

    /** Where traffic goes, as far as the journal knows. */
    public static Side active(Journal journal) {
        return journal.active();
    }

    /** Whether a cutover or rollback was started and neither finished nor undone. */
    public static boolean pending(Journal journal) {
        return journal.pendingMove().isPresent();
    }

    /**
     * Moves traffic to {@code to}. A pending move in the same direction is resumed; one in the other direction is
     * finished when it got past the traffic switch, and undone when it did not (traffic then already goes to {@code
     * to}).
     */
    public synchronized CutoverReport moveTo(Side to) {
        Optional<PendingMove> pending = journal.pendingMove();
        if (pending.isPresent()) {
            PendingMove p = pending.get();
            if (p.reachedSwitch()) {
                // Once the switch was called, traffic may be on the new side, with writes only the new side has:
                // going back now would lose them, so the move is finished, the switch called again (it is idempotent).
                CutoverReport done = recover().orElseThrow();
                if (p.to() == to) {
                    return done;
                }
            } else if (p.to() == to) {
                LOG.info("resuming the {} that stopped {}", move(to), where(p));
                return run(to, p);
            } else {
                LOG.info("undoing the {} that stopped {} before the traffic switch", move(p.to()), where(p));
                CutoverReport u = undo(p, "the " + move(p.to()) + " stopped " + where(p) + " and was undone");
                return new CutoverReport(to, u.fenceStart(), u.switchEnd(), u.steps(), Map.of(), Map.of(), true, "");
            }
        }
        if (active(journal) == to) {
            if (to == Side.SOURCE) {
                throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, "traffic already goes to the source: there is no"
                        + " cutover to roll back");
            }
            return lastReport().orElseThrow(() -> new PgMigrateException(CoreErrorCode.INVALID_PHASE,
                    "traffic already goes to the target"));
        }
        return run(to, null);
    }

    /**
     * Ends a pending move in its own direction without starting another: finished when it reached the traffic switch,
     * undone when it did not. Empty when nothing was pending.
     */
    public synchronized Optional<CutoverReport> recover() {
        Optional<PendingMove> pending = journal.pendingMove();
        if (pending.isEmpty()) {
            return Optional.empty();
        }
        PendingMove p = pending.get();
        if (p.reachedSwitch()) {
            LOG.info("recovering: finishing the {} that got as far as the traffic switch", move(p.to()));
            if (p.step() == Step.SWITCHING) {
                config.trafficSwitch().switchTo(p.to());
                p = p.at(Step.SWITCHED);
                save(p, p.to());
            }
            return Optional.of(finish(p, new ArrayList<>(), Map.of(), false));
        }
        LOG.info("recovering: undoing the {} that stopped {} before the traffic switch", move(p.to()), where(p));
        CutoverReport undone = undo(p, "the " + move(p.to()) + " stopped " + where(p) + " and was undone");
        if (journal.pendingMove().isPresent()) {
            throw new CutoverException(null, undone, new PgMigrateException(CoreErrorCode.CUTOVER_FAILED,
                    undone.failure()));
        }
        return Optional.of(undone);
    }

    /** Where a pending move stopped, as far as the journal knows: inside the window it holds no step but the start. */
    private static String where(PendingMove p) {
        return p.fenceStart().isPresent() && !p.reachedSwitch() ? "inside the write-unavailable window"
                : "at step " + p.step();
    }

    private static String move(Side to) {
        return to == Side.TARGET ? "cutover" : "rollback";
    }

    private CutoverReport run(Side to, PendingMove resumed) {
        Side from = to.other();
        List<String> dbs = config.databases();
        List<CutoverReport.Step> steps = new ArrayList<>();
        Map<String, Lsn> sentinels = new ConcurrentHashMap<>();
        Map<String, List<SequenceValue>> sequences = new ConcurrentHashMap<>();
        // per database, the old side's session holding large-object writes from the fenced pass until the switch
        Map<String, Connection> largeObjectHolds = new ConcurrentHashMap<>();
        Instant fenceStart = null;
        PendingMove p = resumed;
        // Inside the window every wait for a server is bounded: a silent network must not hold the fence.
        Sessions.Bound window = () -> { };
        boolean switchingSaved = false;
        boolean switched = false;
        try (Parallel parallel = new Parallel(dbs.size())) {
            // What waiting cannot mend first: a partition on one side only stops the apply, and waiting for it to
            // catch up would only end in a vaguer refusal minutes later.
            long t = System.nanoTime();
            parallel.run(dbs, db -> {
                List<TableRef> joined = ctx.subscribeNewTables(db);
                if (!joined.isEmpty()) {
                    // always refused, not only when the copy is slower than this call: the outcome must not be a race
                    throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, "pre-check: tables " + joined
                            + " joined the stream since the last wait and are being copied now (PostgreSQL's table"
                            + " synchronisation); call awaitInSync(...) first; nothing was changed");
                }
                requirePublished(db, from, "pre-check: ", "; nothing was changed");
                requireSamePartitions(db, from, to, "pre-check: ", "; nothing was changed");
                requireNothingLeftBehind(db, from, "pre-check: ", "; nothing was changed");
            });
            done(steps, to, "pre-check", t);
            Map<String, SequenceCopy.Observation> observed = new ConcurrentHashMap<>();
            if (!config.cutover().sequenceRateHorizon().isZero()) {
                parallel.run(dbs, db -> observed.put(db, new SequenceCopy(sessions, from, db).observe()));
            }
            t = System.nanoTime();
            catchUp(parallel, from, to);
            done(steps, to, "catch up", t);
            if (p == null) {
                p = PendingMove.start(to);
                save(p);
            }
            for (String db : dbs) {
                ctx.phase(db, Phase.CUTTING_OVER);
            }

            t = System.nanoTime();
            final PendingMove prep = p;
            parallel.run(dbs, db -> prepare(db, from, to, prep));
            p = p.at(Step.PREPARED);
            save(p);
            done(steps, to, "prepare (fence, reverse stream)", t);
            if (config.cutover().refreshMaterializedViews() && to == Side.TARGET) {
                t = System.nanoTime();
                parallel.run(dbs, db -> refreshMaterializedViews(db, from, to));
                done(steps, to, "materialized views", t);
            }
            if (to == Side.TARGET) {
                t = System.nanoTime();
                parallel.run(dbs, this::copyStatistics);
                done(steps, to, "statistics", t);
            }
            if (carriesLargeObjects()) {
                t = System.nanoTime();
                parallel.run(dbs, db -> syncLargeObjects(db, from, to, false));
                done(steps, to, "large objects", t);
            }

            // The intent goes to the journal before anything is held or fenced: a process that dies from here on
            // leaves a move that recovery undoes (lifting the fence, switching back, releasing) or finishes. Inside
            // the window only SWITCHING is journaled: what recovery decides depends on nothing in between, and
            // every save in the window lengthens it (a CIB update in a Pacemaker cluster even makes the cluster
            // recompute its transition just before the VIP moves). The window starts once the intent is saved.
            boolean resumedInWindow = p.fenceStart().isPresent();
            p = p.fenced(p.fenceStart().orElse(Instant.now()));
            save(p);
            fenceStart = resumedInWindow ? p.fenceStart().orElseThrow() : Instant.now();
            p = p.fenced(fenceStart);
            window = sessions.bounded(config.cutover().timeout());
            // A switch that holds requests holds them now, after the window's start is recorded: from here on every
            // way out (the move finished, undone, or recovered after a crash) calls release, which lets them go.
            t = System.nanoTime();
            config.trafficSwitch().hold(from);
            done(steps, to, "hold traffic (" + config.trafficSwitch().description() + ")", t);
            // A hold may wait (for transactions in flight); a process that lost the migration meanwhile must not
            // fence a side that a newer one may have given the traffic to.
            ctx.checkOwner();
            t = System.nanoTime();
            parallel.run(dbs, db -> {
                ctx.fence(from, db).engageInstalled(); // installed during prepare
                // Again, now that the DDL guard holds: a table created since the pre-check has a fence trigger too,
                // but its rows would stay behind.
                requirePublished(db, from, "inside the fence: ", "; the cutover is abandoned");
                requireSamePartitions(db, from, to, "inside the fence: ", "; the cutover is abandoned");
                // Data written since the pre-check (minutes of catch-up and prepare) would stay behind as well.
                requireNothingLeftBehind(db, from, "inside the fence: ", "; the cutover is abandoned");
            });
            p = p.at(Step.FENCED);
            done(steps, to, "fence " + role(from), t);

            t = System.nanoTime();
            parallel.run(dbs, db -> {
                io.pgmigrate.Sentinel s = ctx.link(from, db).sentinel();
                Lsn mark = s.emit();
                s.await(mark, config.cutover().timeout()); // applied, flushed, and on the new side's sync standbys
                sentinels.put(db, mark);
            });
            // Everything committed on the old side is applied now, so a partition with rows on one side only is
            // one that was truncated there: a TRUNCATE of a partition is not carried.
            parallel.run(dbs, db -> requireSameEmptyPartitions(db, from, to));
            p = p.synced(sentinels);
            done(steps, to, "sentinel applied", t);
            // No journal write until SWITCHING, so each step from here that changes something checks the lock first
            // (a journal write did that before): a process that hung here while a newer one finished the move would
            // otherwise delete the target's new large objects, set its sequences and move the reverse stream past
            // what it has not streamed back.
            ctx.checkOwner();

            if (carriesLargeObjects()) {
                t = System.nanoTime();
                parallel.run(dbs, db -> {
                    Connection hold = syncLargeObjects(db, from, to, true);
                    if (hold != null) {
                        largeObjectHolds.put(db, hold);
                    }
                });
                done(steps, to, "large objects changed since", t);
            }

            Duration budget = config.cutover().verifyBudget();
            if (!budget.isZero()) {
                t = System.nanoTime();
                long deadline = t + budget.toNanos();
                Map<String, Verified> verified = new ConcurrentHashMap<>();
                parallel.run(dbs, db -> {
                    Verified v = ctx.verifyInsideFence(db, deadline);
                    verified.put(db, v);
                    List<io.pgmigrate.TableVerification> differ = v.tables().stream().filter(x -> !x.matches())
                            .toList();
                    if (!differ.isEmpty()) {
                        throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, "inside the fence: "
                                + differ.size() + " tables differ after the sentinel was applied ("
                                + differ.stream().map(x -> x.qualifiedName() + " in key ranges " + x.differingRanges())
                                .collect(Collectors.joining("; ")) + "); the cutover is abandoned; "
                                + "Migration.repair(Migration.verify()) copies the differing ranges again");
                    }
                });
                int ranges = verified.values().stream().flatMap(v -> v.tables().stream())
                        .mapToInt(io.pgmigrate.TableVerification::ranges).sum();
                long tables = verified.values().stream().mapToLong(v -> v.tables().size()).sum();
                boolean complete = verified.values().stream().allMatch(Verified::complete);
                if (!complete) {
                    LOG.warn("the comparison inside the fence ran out of its budget of {} s after {} ranges of {}"
                            + " tables: the rest was not compared", budget.toSeconds(), ranges, tables);
                }
                done(steps, to, "verify (" + ranges + " ranges of " + tables + " tables equal"
                        + (complete ? "" : "; budget spent, the rest not compared") + ")", t);
            }

            ctx.checkOwner();
            t = System.nanoTime();
            parallel.run(dbs, db -> sequences.put(db, new SequenceCopy(sessions, from, db).sync(
                    config.cutover().sequenceMargin(), observed.get(db), config.cutover().sequenceRateHorizon())));
            p = p.at(Step.SEQUENCES_SET);
            done(steps, to, "sequences", t);

            ctx.checkOwner();
            t = System.nanoTime();
            parallel.run(dbs, db -> advanceOutbound(db, to));
            p = p.at(Step.OUTBOUND_READY);
            done(steps, to, "reverse stream ready", t);

            // The holds of large-object writes must still stand when traffic moves (a server that ended one would
            // let the application write large objects that stay behind).
            for (Map.Entry<String, Connection> hold : largeObjectHolds.entrySet()) {
                try {
                    Queries.execute(hold.getValue(), "SELECT 1");
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, hold.getKey(), "inside the fence:"
                            + " the session holding large-object writes on the " + role(from) + " ended; the cutover"
                            + " is abandoned", e);
                }
            }
            t = System.nanoTime();
            p = p.at(Step.SWITCHING);
            save(p);
            switchingSaved = true;
            config.trafficSwitch().switchTo(to);
            switched = true;
            done(steps, to, "traffic switch (" + config.trafficSwitch().description() + ")", t);
            // The new side takes writes from here on; lifting its fence belongs to the bounded window, and comes
            // before any journal write that could fail and leave both sides fenced.
            t = System.nanoTime();
            parallel.run(dbs, db -> ctx.fence(to, db).disengage());
            done(steps, to, "lift fence on " + role(to), t);
            t = System.nanoTime();
            config.trafficSwitch().release(to); // the held requests go now that the new side takes writes
            p = p.switched(Instant.now());
            done(steps, to, "release traffic", t);
            window.close();
            releaseLargeObjects(largeObjectHolds, true);
        } catch (RuntimeException | Error e) {
            window.close();
            releaseLargeObjects(largeObjectHolds, false);
            PgMigrateException cause = e instanceof PgMigrateException pe ? pe
                    : new PgMigrateException(CoreErrorCode.INTERNAL, null, e.toString(), e);
            if (cause.code() == CoreErrorCode.MIGRATION_IN_USE) {
                // Another process may drive the migration now, from the journal this one last wrote: anything done
                // from here (an undo lifting the fence it engaged) could undo what that one finished.
                throw cause;
            }
            String why = cause.database().map(db -> "database \"" + db + "\": ").orElse("") + cause.detail();
            if (switched) {
                // Traffic moved: never undone from here (the new side may hold writes nobody else has).
                throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, null, "traffic already goes to the " + role(to)
                        + ", but " + why + "; call " + (to == Side.TARGET ? "cutover()" : "rollback()")
                        + " again to finish", cause);
            }
            if (p == null) {
                CutoverReport r = report(to, Instant.now(), Instant.now(), steps, sentinels, sequences, false, why);
                throw new CutoverException(cause.database().orElse(null), r, cause);
            }
            // The switch reported failure, so by its contract traffic stayed where it was: undoing is safe here,
            // unlike after a crash inside it, as long as the journal cannot make a later call finish the move.
            if (p.step() == Step.SWITCHING) {
                p = p.at(Step.OUTBOUND_READY); // the switch said no: a later call must undo, not finish
                try {
                    save(p);
                } catch (RuntimeException journalDown) {
                    cause.addSuppressed(journalDown);
                    if (switchingSaved) {
                        // The store holds SWITCHING, so a restarted process would finish the move: lifting the
                        // fence now could leave the old side writable under a finished cutover. It stays up.
                        throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the traffic switch failed ("
                                + why + ") and the state store cannot record it, so the fences stay up and writes"
                                + " wait; once the store works, call " + (to == Side.TARGET ? "cutover()" : "rollback()")
                                + " to finish the move, or the other one to finish it and move back", cause);
                    }
                    // The store refused SWITCHING itself: it holds the intent from before the window, which a later call undoes.
                }
            }
            CutoverReport r = undo(p, why, steps, sentinels, sequences);
            throw new CutoverException(cause.database().orElse(null), r, cause);
        }
        p = p.at(Step.SWITCHED);
        save(p, to);
        return finish(p, steps, Map.copyOf(sequences), true);
    }

    /**
     * Refuses to start unless every inbound stream runs and has copied every table, and waits (bounded by
     * {@code cutoverCatchUpTimeout}) until each is within {@code cutoverMaxLagBytes}.
     */
    private void catchUp(Parallel parallel, Side from, Side to) {
        CatchUp wait = new CatchUp(config.cutover().maxLagBytes(), config.cutover().catchUpTimeout(),
                config.progressInterval(), () -> {
                    try {
                        ctx.progress();
                    } catch (RuntimeException e) {
                        // A report that failed (a listener, a status read) must not end the wait it reports on.
                        LOG.warn("reporting progress while catching up failed: {}", e.toString());
                    }
                });
        wait.await(() -> {
            Map<String, LinkState> states = new ConcurrentHashMap<>();
            parallel.run(config.databases(), db -> states.put(db, readRunning(db, from, to)));
            return states;
        }, role(to));
    }

    /** The inbound stream's state; throws for what waiting cannot mend. */
    private LinkState readRunning(String db, Side from, Side to) {
        ReplicationLink inbound = ctx.link(from, db);
        LinkState s;
        try {
            s = inbound.read(sessions.get(from, db), sessions.get(to, db));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "reading the stream's state failed", e);
        }
        String why = null;
        if (!s.subscriptionExists()) {
            why = inbound.applier() + " does not exist on the " + role(to)
                    + (from == Side.SOURCE ? "; call start() first" : "");
        } else if (!s.slotExists()) {
            why = "replication slot " + inbound.slot() + " is gone from the " + role(from);
        } else if (!s.publicationExists()) {
            why = inbound.publicationLost(role(from));
        } else if (!s.enabled()) {
            why = inbound.applier() + " is disabled on the " + role(to)
                    + (from == Side.SOURCE ? "; call start() to resume it" : "");
        } else if (!s.unsubscribed().isEmpty()) {
            why = s.problem();

        } else if (!s.allTablesReady()) {
            why = "the initial copy is still running; call awaitInSync(...) first";
        } else if (inbound.engine() == io.pgmigrate.Engine.STREAM && !s.problem().isEmpty()) {
            // a stream that does not run, or keeps failing, would let the sentinel wait out the window
            why = s.problem();
        }
        if (why != null) {
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, "pre-check: " + why + "; nothing was changed");
        }
        return s;
    }

    /** Every partition of every partitioned table, with its parent and bounds, as one comparable line each. */
    private static final String PARTITIONS = """
            SELECT pg_catalog.format('%I.%I (of %I.%I, %s)', n.nspname, c.relname, pn.nspname, p.relname,
                                     pg_catalog.pg_get_expr(c.relpartbound, c.oid))
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
            WHERE c.relispartition AND pn.nspname NOT IN ('pg_catalog', 'information_schema')
              AND pn.nspname NOT LIKE 'pg\\_%' AND pn.nspname NOT LIKE 'pgmigrate\\_%'
            ORDER BY 1
            """;

    /**
     * Partitions publish through their root, so attaching, detaching or dropping one is not carried: a partition on
     * one side only means rows that would come back (dropped by a retention job) or never arrive (attached with its
     * rows). Refuses unless both sides have the same partitions with the same bounds.
     */
    private void requireSamePartitions(String db, Side from, Side to, String when, String outcome) {
        try {
            List<String> old = Queries.list(sessions.get(from, db), PARTITIONS, rs -> rs.getString(1));
            List<String> next = Queries.list(sessions.get(to, db), PARTITIONS, rs -> rs.getString(1));
            List<String> onlyOld = old.stream().filter(x -> !next.contains(x)).toList();
            List<String> onlyNext = next.stream().filter(x -> !old.contains(x)).toList();
            if (onlyOld.isEmpty() && onlyNext.isEmpty()) {
                return;
            }
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, when + "the partitions differ"
                    + (onlyOld.isEmpty() ? "" : "; only on the " + role(from) + ": " + onlyOld)
                    + (onlyNext.isEmpty() ? "" : "; only on the " + role(to) + ": " + onlyNext)
                    + ". Partitions are published through their root, so attaching, detaching or dropping one is not"
                    + " carried: make the same change on the other side (its rows with it), then cut over" + outcome);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "reading the partitions failed", e);
        }
    }

    /** Every leaf partition, quoted; both sides have the same ones (checked before). */
    private static final String LEAVES = """
            SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relispartition AND c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'pgmigrate\\_%'
            ORDER BY 1
            """;

    /**
     * Partitions publish through their root, and PostgreSQL does not send a {@code TRUNCATE} of one partition then:
     * the rows a retention job truncated on the old side would come back on the new one. Run once the sentinel is
     * applied, when both sides hold the same rows: a partition empty on one side only was truncated there. A partition
     * truncated and filled again before the cutover is not seen (docs/cutover.md).
     */
    private void requireSameEmptyPartitions(String db, Side from, Side to) {
        try {
            List<String> leaves = Queries.list(sessions.get(from, db), LEAVES, rs -> rs.getString(1));
            if (leaves.isEmpty()) {
                return;
            }
            List<String> oldEmpty = empty(sessions.get(from, db), leaves);
            List<String> newEmpty = empty(sessions.get(to, db), leaves);
            List<String> truncatedOld = oldEmpty.stream().filter(x -> !newEmpty.contains(x)).toList();
            List<String> truncatedNew = newEmpty.stream().filter(x -> !oldEmpty.contains(x)).toList();
            if (truncatedOld.isEmpty() && truncatedNew.isEmpty()) {
                return;
            }
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, "inside the fence: "
                    + (truncatedOld.isEmpty() ? "" : "partitions " + truncatedOld + " are empty on the " + role(from)
                    + " but not on the " + role(to) + "; ")
                    + (truncatedNew.isEmpty() ? "" : "partitions " + truncatedNew + " are empty on the " + role(to)
                    + " but not on the " + role(from) + "; ")
                    + "a TRUNCATE of a single partition is not carried (partitions are published through their"
                    + " root). Make the same change on the other side (Migration.applyOnFencedSide(database,"
                    + " \"TRUNCATE ...\") truncates it on the fenced side), or delete through the parent table, then"
                    + " cut over; the cutover is abandoned");
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "reading the partitions failed", e);
        }
    }

    /** Which of {@code leaves} hold no row, in one statement (one page read each for a table with rows). */
    private static List<String> empty(Connection c, List<String> leaves) throws SQLException {
        StringBuilder sql = new StringBuilder();
        for (int i = 0; i < leaves.size(); i++) {
            // The names come quoted from format('%I.%I'); the index is bound.
            sql.append(i == 0 ? "" : " UNION ALL ").append("SELECT ?::int WHERE NOT EXISTS (SELECT 1 FROM ONLY ")
                    .append(leaves.get(i)).append(')');
        }
        Object[] params = new Object[leaves.size()];
        for (int i = 0; i < params.length; i++) {
            params[i] = i;
        }
        return Queries.list(c, sql.toString(), rs -> leaves.get(rs.getInt(1)), params);
    }

    private void requirePublished(String db, Side from, String when, String outcome) {
        String why = unpublished(db, from, ctx.link(from, db).publication());
        if (why != null) {
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, when + why + outcome);
        }
    }

    /**
     * Refuses while the old side holds data no stream carries (unlogged rows, inheritance hierarchies, large objects,
     * extension configuration rows), unless the migration accepts leaving that kind behind: preflight warned about it
     * possibly days ago, and its data may have appeared since.
     */
    private void requireNothingLeftBehind(String db, Side from, String when, String outcome) {
        Set<LeftBehind> asked = EnumSet.allOf(LeftBehind.class);
        asked.removeAll(config.cutover().acceptedLeftBehind());
        asked.remove(LeftBehind.LARGE_OBJECTS); // carried by the cutover itself, unless accepted as left behind
        if (asked.isEmpty()) {
            return;
        }
        Map<LeftBehind, List<String>> found;
        try {
            found = LeftBehindCheck.find(sessions.get(from, db), asked);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, when + "looking for data the stream"
                    + " does not carry failed" + outcome, e);
        }
        if (!found.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, db, when + "the stream does not carry this"
                    + " data, so it would stay on the " + role(from) + ": " + LeftBehindCheck.describe(found)
                    + "; move it, or accept leaving it with acceptLeftBehind(" + found.keySet().stream()
                    .map(k -> "LeftBehind." + k.name()).collect(Collectors.joining(", ")) + ")" + outcome);
        }
    }

    /**
     * Tables the stream does not carry, such as one created on both sides after {@code start()}: the fence would
     * hold their writes back and the cutover would leave their rows behind. Kinds preflight already reported as not
     * migrated (unlogged, inherited, foreign) are not asked about again; a partitioned table is published as itself.
     */
    private String unpublished(String db, Side from, String publication) {
        try {
            List<String> missing = Queries.list(sessions.get(from, db), """
                    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                      AND n.nspname NOT LIKE 'pgmigrate\\_%'
                      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                      AND d.objid = c.oid AND d.deptype = 'e')
                      AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid
                                      OR (h.inhparent = c.oid AND c.relkind = 'r'))
                      AND NOT EXISTS (SELECT 1 FROM pg_publication_tables pt
                                      WHERE pt.pubname = ? AND pt.schemaname = n.nspname AND pt.tablename = c.relname)
                    ORDER BY 1
                    """, rs -> rs.getString(1), publication);
            if (missing.isEmpty()) {
                return null;
            }
            ReplicationLink link = ctx.link(from, db);
            if (!link.publicationExists(sessions.get(from, db))) {
                return link.publicationLost(role(from)); // every table is missing from a publication that is gone
            }
            return "tables " + missing + " are not in publication " + publication
                    + ", so their rows would stay behind; " + (link.engine() == io.pgmigrate.Engine.STREAM
                    ? "the STREAM engine does not take a table into a running migration yet: drop them, or"
                    + " complete() this migration and start one that includes them"
                    : "add them (ALTER PUBLICATION ... ADD TABLE, then ALTER SUBSCRIPTION ... REFRESH PUBLICATION)"
                    + " or drop them");
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "reading the publication failed", e);
        }
    }

    private void prepare(String db, Side from, Side to, PendingMove p) {
        ctx.fence(from, db).prepare();
        // Schema changes on the new side are recorded from now on; what is recorded before the window lies before the
        // stream back's start, so only what the application deploys after the switch travels back.
        ctx.ddl(db).capture(to, true);
        try {
            ReplicationLink outbound = ctx.link(to, db);
            // The way back carries what the way here carries, decided from the servers every time: a journaled flag
            // may stand for an object a crashed process never created, and tables may have joined the stream since
            // the last move.
            List<TableRef> tables = Queries.list(sessions.get(from, db), """
                    SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = ? ORDER BY 1, 2
                    """, rs -> new TableRef(rs.getString(1), rs.getString(2)), ctx.link(from, db).publication());
            if (!outbound.created()) {
                ctx.journal().database(db).mark(Flag.outboundCreatedBy(to));
            }
            outbound.prepare(sessions.get(to, db), sessions.get(from, db), tables);
            // Skip what the outbound slot holds from before (changes the inbound stream applied): done now for the
            // bulk and again in the window for the rest, so the window decodes little.
            advanceOutbound(db, to);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "preparing the stream back from the "
                    + role(to) + " failed", e);
        }
    }

    /**
     * Before the window: the target plans its first queries with the source's optimizer statistics when it can take
     * them (PostgreSQL 18 and later). Outside the fence because they are hints, not data: the window stays short, and
     * a failure is a warning, never a reason to refuse the cutover.
     */
    private void copyStatistics(String db) {
        try (Connection from = sessions.fresh(Side.SOURCE, db); Connection to = sessions.fresh(Side.TARGET, db)) {
            if (!StatisticsCopy.supported(to)) {
                return;
            }
            StatisticsCopy.Copied c = StatisticsCopy.copy(from, to);
            LOG.info("{}: optimizer statistics copied to the {}: {} tables and indexes, {} columns{}", db,
                    role(Side.TARGET), c.relations(), c.columns(), c.refused() == 0 ? ""
                            : ", " + c.refused() + " refused (logged above)");
        } catch (SQLException | RuntimeException e) {
            LOG.warn("{}: copying the optimizer statistics to the {} failed, so its first queries plan without them"
                    + " until autovacuum analyzes its tables (or run ANALYZE): {}", db, role(Side.TARGET),
                    e.getMessage());
        }
    }

    /**
     * Before the fence: refreshes on the new side each materialized view the old side has populated (the schema copy
     * creates them empty, and no stream fills them), in the new side's creation order, so a view built on another
     * comes after it. A view that cannot be refreshed abandons the move: once traffic came, every query of it would
     * fail.
     */
    private void refreshMaterializedViews(String db, Side from, Side to) {
        String views = """
                SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind = 'm' AND n.nspname NOT LIKE 'pgmigrate\\_%%' %s ORDER BY c.oid
                """;
        TableRef current = null;
        try (Connection a = sessions.fresh(from, db); Connection b = sessions.fresh(to, db)) {
            Set<TableRef> populated = new java.util.HashSet<>(Queries.list(a, views.formatted("AND c.relispopulated"),
                    rs -> new TableRef(rs.getString(1), rs.getString(2))));
            if (populated.isEmpty()) {
                return;
            }
            int refreshed = 0;
            for (TableRef v : Queries.list(b, views.formatted(""), rs -> new TableRef(rs.getString(1),
                    rs.getString(2)))) {
                if (populated.contains(v)) {
                    current = v;
                    Queries.execute(b, "REFRESH MATERIALIZED VIEW " + v.quoted());
                    refreshed++;
                }
            }
            LOG.info("{}: {} materialized views refreshed on the {}", db, refreshed, role(to));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "refreshing materialized view "
                    + (current == null ? "" : current.quoted() + " ") + "on the " + role(to) + " failed (once traffic"
                    + " came there, every query of it would fail): fix it there, or leave the views to the"
                    + " application with refreshMaterializedViews(false); the cutover is abandoned", e);
        }
    }

    /** Whether cutovers copy large objects: unless the migration accepts leaving them behind. */
    private boolean carriesLargeObjects() {
        return !config.cutover().acceptedLeftBehind().contains(LeftBehind.LARGE_OBJECTS);
    }

    /**
     * Makes the new side's large objects those of the old side ({@link LargeObjectCopy}). Before the fence for the
     * bulk; inside it ({@code fenced}) for what changed since, with the old side's large-object writes held (the
     * trigger fence does not stop {@code lo_put}), where the role may hold them, until the traffic switch.
     *
     * @return inside the fence, the old side's session that holds large-object writes in its open transaction, for
     *         {@link #releaseLargeObjects} once traffic moved; null otherwise
     */
    private Connection syncLargeObjects(String db, Side from, Side to, boolean fenced) {
        Connection a = sessions.fresh(from, db);
        boolean keep = false;
        try (Connection b = sessions.fresh(to, db)) {
            if (fenced) {
                sessions.applyBound(a);
                sessions.applyBound(b);
            }
            a.setAutoCommit(false);
            // one snapshot for the whole comparison and copy
            Queries.execute(a, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
            // the hold waits, idle, through the switch: no server timeout may end it meanwhile
            Queries.execute(a, "SET LOCAL idle_in_transaction_session_timeout = 0");
            if (Integer.parseInt(Queries.string(a, "SHOW server_version_num")) >= 170000) {
                Queries.execute(a, "SET LOCAL transaction_timeout = 0");
            }
            // Held before looking: an application that has no large object now may create one until the switch.
            boolean held = fenced && LargeObjectCopy.hold(a);
            if (!LargeObjectCopy.any(a) && !LargeObjectCopy.any(b)) {
                keep = held;
                return held ? a : null;
            }
            if (fenced && !held) {
                LOG.warn("{}: the {}'s role may not hold writes of large objects (a SHARE lock on pg_largeobject"
                        + " needs a superuser, or MAINTAIN on it from PostgreSQL 17 on): one written there during the"
                        + " cutover's last moments would stay behind", db, role(from));
            }
            LargeObjectCopy.Synced s = LargeObjectCopy.sync(a, b);
            if (s.copied() + s.removed() > 0) {
                LOG.info("{}: large objects{}: {} copied to the {} ({} bytes), {} removed there", db,
                        fenced ? " changed since the first copy" : "", s.copied(), role(to), s.bytes(), s.removed());
            }
            keep = held;
            return held ? a : null;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, (fenced ? "inside the fence: " : "")
                    + "copying large objects to the " + role(to) + " failed (the migration's role needs SELECT on"
                    + " every large object of the " + role(from) + "; or accept leaving them behind with"
                    + " acceptLeftBehind(LeftBehind.LARGE_OBJECTS)); the cutover is abandoned", e);
        } finally {
            if (!keep) {
                Sessions.closeQuietly(a);
            }
        }
    }

    /**
     * Ends the transactions that held large-object writes on the old side: after the switch (committed: they only
     * read) or when the move is abandoned.
     */
    private static void releaseLargeObjects(Map<String, Connection> holds, boolean switched) {
        for (Connection c : holds.values()) {
            try {
                if (switched) {
                    c.commit();
                }
            } catch (SQLException e) {
                LOG.debug("ending the hold of large-object writes failed; closing its session ends it", e);
            }
            Sessions.closeQuietly(c);
        }
        holds.clear();
    }

    private void advanceOutbound(String db, Side to) {
        try {
            Connection c = sessions.get(to, db);
            Lsn now = Lsn.parse(Queries.string(c, "SELECT pg_current_wal_flush_lsn()::text"));
            ctx.link(to, db).moveStart(c, sessions.get(to.other(), db), now);
            ctx.ddl(db).streamStarts(to); // schema changes recorded there so far lie before the stream back
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "moving the reverse stream's slot on the "
                    + role(to) + " failed", e);
        }
    }

    /**
     * After the switch: lift the new side's fence, stop the inbound stream, then start the outbound one. Never
     * abandons: a failure here leaves the journal at SWITCHED, and calling again finishes.
     */
    private CutoverReport finish(PendingMove p, List<CutoverReport.Step> steps, Map<String, List<SequenceValue>> sequences,
                                 boolean released) {
        ctx.checkOwner();
        boolean originFilter = ctx.originFilter(); // read once, before the databases' threads share nothing else
        Side to = p.to();
        Side from = to.other();
        List<String> dbs = config.databases();
        try (Parallel parallel = new Parallel(dbs.size())) {
            // Done in the window already unless a crash came between; idempotent, and bounded like the window.
            long t = System.nanoTime();
            try (Sessions.Bound bounded = sessions.bounded(config.cutover().timeout())) {
                parallel.run(dbs, db -> ctx.fence(to, db).disengage());
            }
            if (!released) {
                config.trafficSwitch().release(to); // a crashed process may have left requests held
            }
            Instant switchEnd = p.switchEnd().orElse(Instant.now());
            p = p.switched(switchEnd);
            save(p);
            if (steps.stream().noneMatch(x -> x.name().equals("lift fence on " + role(to)))) {
                done(steps, to, "lift fence on " + role(to), t);
            }

            t = System.nanoTime();
            parallel.run(dbs, db -> {
                ctx.fence(from, db).adopt(); // a crashed process may have engaged it: its DDL guard would refuse us
                ctx.ddl(db).capture(from, false); // the old side takes no schema change now: its fence refuses them
                try {
                    ctx.link(from, db).disable(sessions.get(to, db));
                    // Disabling may only ask the applying end to stop; both directions must never run at once.
                    ctx.link(from, db).awaitStopped(sessions.get(to, db), Duration.ofSeconds(30));
                    ctx.link(to, db).enable(sessions.get(from, db), originFilter);
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "turning the streams around"
                            + " failed; traffic already goes to the " + role(to) + ": call "
                            + (to == Side.TARGET ? "cutover()" : "rollback()") + " again to finish", e);
                }
            });
            done(steps, to, "streams turned around", t);
            parallel.run(dbs, db -> {
                ctx.fence(to, db).remove();
                ctx.journal().database(db).unmark(Flag.outboundCreatedBy(to));
            });
            for (String db : dbs) {
                ctx.phase(db, to == Side.TARGET ? Phase.CUT_OVER : Phase.STREAMING);
            }
            CutoverReport r = report(to, p.fenceStart().orElse(switchEnd), switchEnd, steps, p.sentinels(), sequences,
                    true, "");
            journal.update(d -> d.withActive(to).withLastCutover(toJournal(r)).withCutover(Optional.empty()));
            LOG.info("{} complete: writes were unavailable for {} ms", to == Side.TARGET ? "cutover" : "rollback",
                    r.writeUnavailable().toMillis());
            return r;
        }
    }

    private CutoverReport undo(PendingMove p, String why) {
        return undo(p, why, new ArrayList<>(), Map.of(), Map.of());
    }

    /**
     * Returns to where things were before the pending move: lifts the fences it engaged on the old side, drops the
     * outbound link it created, points traffic at the old side (idempotent, in case a crashed process got that far).
     */
    private CutoverReport undo(PendingMove p, String why, List<CutoverReport.Step> steps, Map<String, Lsn> sentinels,
                               Map<String, List<SequenceValue>> sequences) {
        ctx.checkOwner();
        Side to = p.to();
        Side from = to.other();
        List<String> dbs = config.databases();
        long t = System.nanoTime();
        List<String> problems = new ArrayList<>();
        try (Parallel parallel = new Parallel(dbs.size());
             Sessions.Bound bounded = sessions.bounded(config.cutover().timeout())) {
            boolean wasInterrupted = Thread.interrupted(); // undo must run to its end
            parallel.runAll(dbs, db -> ctx.fence(from, db).disengage(), problems);
            if (!problems.isEmpty()) {
                // The journal keeps the pending move, so the next cutover() or rollback() tries the undo again.
                if (p.fenceStart().isPresent()) {
                    // Held requests go on all the same: reads work on the fenced side, and held ones would only wait
                    // until they time out, reads included.
                    try {
                        config.trafficSwitch().release(from);
                    } catch (RuntimeException e) {
                        problems.add("releasing the held requests failed: " + e.getMessage());
                    }
                }
                if (wasInterrupted) {
                    Thread.currentThread().interrupt();
                }
                throw new PgMigrateException(CoreErrorCode.CUTOVER_FAILED, null, why + "; the fence on the " + role(from)
                        + " could not be lifted (" + String.join("; ", problems) + "): call rollback() again");
            }
            Instant lifted = Instant.now();
            done(steps, to, "lift fence on " + role(from), t);
            boolean trafficBack = true;
            if (p.fenceStart().isPresent()) {
                // A crashed process may have switched already; this is idempotent.
                try {
                    config.trafficSwitch().switchTo(from);
                } catch (RuntimeException e) {
                    trafficBack = false;
                    problems.add("switching traffic back to the " + role(from) + " failed: " + e.getMessage());
                }
                // Whatever the switch did: requests held since the hold must not wait for ever.
                try {
                    config.trafficSwitch().release(from);
                } catch (RuntimeException e) {
                    trafficBack = false;
                    problems.add("releasing the held requests failed: " + e.getMessage());
                }
            }
            parallel.runAll(dbs, db -> {
                ctx.fence(from, db).remove();
                ctx.ddl(db).capture(to, false); // the side without traffic records nothing
                if (ctx.journal().database(db).flag(Flag.outboundCreatedBy(to))) {
                    try {
                        ctx.link(to, db).drop(sessions.get(to, db), sessions.get(from, db));
                    } catch (SQLException e) {
                        throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db,
                                "dropping the prepared reverse stream failed", e);
                    }
                    ctx.journal().database(db).unmark(Flag.outboundCreatedBy(to));
                }
            }, problems);
            try {
                for (String db : dbs) {
                    ctx.phase(db, from == Side.SOURCE ? Phase.STREAMING : Phase.CUT_OVER);
                }
                if (trafficBack) {
                    journal.update(d -> d.withCutover(Optional.empty()));
                } else {
                    // Kept pending: the next cutover(), rollback() or recover() switches and releases again.
                    problems.add("the move stays pending: call recover() to switch traffic back and release the"
                            + " requests held");
                }
            } catch (RuntimeException e) {
                // The fences are lifted and traffic is where it was; the store keeps the pending move, which the next
                // cutover() or rollback() undoes again (every step of the undo is idempotent).
                problems.add("the state store could not record the undo (" + e.getMessage() + "); call "
                        + (to == Side.TARGET ? "cutover()" : "rollback()") + " again once it works");
            }
            Instant start = p.fenceStart().orElse(lifted);
            String failure = why + (problems.isEmpty() ? "" : "; while undoing: " + String.join("; ", problems));
            LOG.warn("{} abandoned before the traffic switch, traffic stays on the {}: {}",
                    to == Side.TARGET ? "cutover" : "rollback", role(from), failure);
            if (wasInterrupted) {
                Thread.currentThread().interrupt();
            }
            return report(to, start, lifted, steps, sentinels, sequences, false, failure);
        }
    }

    private Optional<CutoverReport> lastReport() {
        return journal.lastMove().map(m -> report(m.to(), m.fenceStart(), m.switchEnd(),
                m.steps().stream().map(x -> new CutoverReport.Step(x.name(), x.duration())).toList(), m.sentinels(),
                Map.of(), true, ""));
    }

    private static FinishedMove toJournal(CutoverReport r) {
        return new FinishedMove(r.to(), r.fenceStart(), r.switchEnd(),
                r.steps().stream().map(x -> new FinishedMove.StepTime(x.name(), x.duration())).toList(),
                r.sentinelLsns());
    }

    /** Journals the move's progress. */
    private void save(PendingMove p) {
        journal.update(d -> d.withCutover(Optional.of(p)));
    }

    /** Journals the move's progress and where traffic goes now, in one save. */
    private void save(PendingMove p, Side active) {
        journal.update(d -> d.withCutover(Optional.of(p)).withActive(active));
    }

    private static CutoverReport report(Side to, Instant fenceStart, Instant switchEnd, List<CutoverReport.Step> steps,
                                        Map<String, Lsn> sentinels, Map<String, List<SequenceValue>> sequences,
                                        boolean succeeded, String failure) {
        return new CutoverReport(to, fenceStart, switchEnd, steps, sentinels, sequences, succeeded, failure);
    }

    /**
     * Records a finished step, and tells the listeners at once (inside the window, too; the context logs and ignores
     * what a listener throws, so a listener's bug cannot end a window or an undo halfway).
     */
    private void done(List<CutoverReport.Step> steps, Side to, String name, long startNanos) {
        CutoverReport.Step step = new CutoverReport.Step(name, Duration.ofNanos(System.nanoTime() - startNanos));
        steps.add(step);
        ctx.stepDone(to, step);
    }

    private String role(Side side) {
        return sessions.connector(side).role();
    }
}
