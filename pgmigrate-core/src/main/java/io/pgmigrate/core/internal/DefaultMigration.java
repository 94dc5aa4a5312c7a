package io.pgmigrate.core.internal;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Fence;
import io.pgmigrate.Lsn;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.SchemaStrategy;
import io.pgmigrate.SequenceSync;
import io.pgmigrate.Side;
import io.pgmigrate.KeyRange;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.core.internal.cutover.Cutover;
import io.pgmigrate.core.internal.replication.nativ.NativeSentinel;
import io.pgmigrate.core.internal.cutover.SequenceCopy;
import io.pgmigrate.core.internal.copy.CopyPlan;
import io.pgmigrate.core.internal.copy.InitialCopy;
import io.pgmigrate.core.internal.copy.SnapshotSlot;
import io.pgmigrate.core.internal.cutover.TriggerFence;
import io.pgmigrate.core.internal.ddl.DdlCarry;
import io.pgmigrate.core.internal.preflight.Preflight;
import io.pgmigrate.core.internal.replication.LinkState;
import io.pgmigrate.core.internal.replication.ReplicationLink;
import io.pgmigrate.core.internal.replication.nativ.NativeLink;
import io.pgmigrate.core.internal.replication.stream.StreamLink;
import io.pgmigrate.core.internal.replication.stream.StreamWorkers;
import io.pgmigrate.core.internal.schema.CatalogSchema;
import io.pgmigrate.core.internal.schema.PgDump;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.sql.Sessions;
import io.pgmigrate.core.internal.state.CopyRecord;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import io.pgmigrate.core.internal.state.Ownership;
import io.pgmigrate.core.internal.verify.KeyRanges;
import io.pgmigrate.core.internal.verify.RangeCopy;
import io.pgmigrate.core.internal.verify.RangeDigest;
import io.pgmigrate.core.internal.verify.TableShape;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * A migration: orchestrates schema copy, links, status, verification, cutover and clean-up. The engine is chosen in one
 * place, {@link #link(Side, String)}; everything else talks to the {@link ReplicationLink} it returns, but for what
 * only a subscription has (the copy's hand-over to PostgreSQL's table synchronisation, creating the subscription).
 */
final class DefaultMigration implements Migration {

    private static final Logger LOG = LoggerFactory.getLogger(DefaultMigration.class);
    private static final String MAINTENANCE_DB = "postgres";

    private final MigrationConfig config;
    private final Connector source;
    private final Connector target;
    /** How the target server reaches the source: the forward subscription's connection. */
    private final Connector peer;
    /** How the source server reaches the target: the reverse subscription's connection. */
    private final Connector reversePeer;
    private final ObjectNames names;
    private final Sessions sessions;
    /**
     * Marks this object's sessions as the migration's own, so its fences let them through. Random per instance and
     * never written anywhere; the fence holds only its SHA-256.
     */
    private final String sessionKey;
    private final Object journalLock = new Object();
    private Journal journal;
    /** The lock that makes this object the migration's one driver, taken by the first call that changes anything. */
    private final Ownership owner;
    private volatile Boolean originFilter;
    /** The STREAM engine's workers this process runs. */
    private final StreamWorkers streamWorkers;
    /** Target connections each STREAM worker applies on. */
    static final int STREAM_CONNECTIONS = 4;

    DefaultMigration(MigrationConfig config) {
        this.config = config;
        this.source = new Connector(config.source(), "source", config.connectTimeout(), config.connectAttempts());
        this.target = new Connector(config.target(), "target", config.connectTimeout(), config.connectAttempts());
        this.peer = new Connector(peerEndpoint(config.sourceAsSeenByTarget(), config.source()),
                "source as seen by the target", config.connectTimeout(), 1);
        this.reversePeer = new Connector(peerEndpoint(config.targetAsSeenBySource(), config.target()),
                "target as seen by the source", config.connectTimeout(), 1);
        this.names = new ObjectNames(config.name());
        // The lock lives in one database of the source: the first by name, whatever order the caller listed them in.
        this.owner = new Ownership(source, config.databases().stream().sorted().findFirst().orElseThrow(),
                config.name());
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        this.sessionKey = HexFormat.of().formatHex(key);
        // In the startup packet, not a SET: a statement or its parameters can end up in the server's log.
        this.sessions = new Sessions(source, target, "-c " + TriggerFence.KEY_SETTING + "=" + sessionKey);
        this.streamWorkers = new StreamWorkers(sessions, STREAM_CONNECTIONS, owner::check);
    }

    private boolean stream() {
        return config.engine() == io.pgmigrate.Engine.STREAM;
    }

    /**
     * How one server reaches the other for a subscription. Not configured separately, it is the JVM's endpoint of that
     * server, credentials and all. Configured explicitly, it takes the user from the JVM's endpoint when it has none,
     * but a password only from itself: without one, the subscriber finds its own in its server's password file (or
     * in the file its {@code passfile} names on the subscriber's machine), and no password is stored in the
     * subscription (docs/security.md).
     */
    private static io.pgmigrate.Endpoint peerEndpoint(io.pgmigrate.Endpoint p, io.pgmigrate.Endpoint s) {
        if (p.equals(s)) {
            return s;
        }
        if (p.user().isEmpty() && s.user().isPresent()) {
            p = p.user(s.user().get());
        }
        return p;
    }

    /**
     * The password to write into a subscription's connection string: the peer endpoint's own, or, when the peer is
     * the JVM's endpoint itself, one read from its passfile here. A separately configured peer's passfile is a path on
     * the subscriber's machine, passed as libpq's {@code passfile} keyword instead (see {@link NativeLink}).
     */
    private Optional<String> subscriptionPassword(Connector reach, io.pgmigrate.Endpoint jvmSide, String db) {
        if (reach.endpoint().password().isPresent()) {
            return reach.endpoint().password();
        }
        return reach.endpoint().equals(jvmSide) ? reach.password(db) : Optional.empty();
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public MigrationConfig config() {
        return config;
    }

    private Journal journal() {
        // Its own lock: cutover threads need the journal while cutover() holds this object's.
        synchronized (journalLock) {
            if (journal == null) {
                journal = Journal.load(config, owner::check);
            }
            return journal;
        }
    }

    /**
     * Makes this object the migration's driver before a call that changes anything: takes the lock (refused, naming
     * the holder, while another process has it) and, when it was just taken, reads the journal anew, since another
     * process may have moved the migration on.
     */
    private void own() {
        if (owner.acquire()) {
            forgetJournal();
        }
    }

    private void forgetJournal() {
        synchronized (journalLock) {
            journal = null;
        }
    }

    /** Before a call that only reads: a process that does not drive the migration reads the journal as it is now. */
    private void observe() {
        if (!owner.held()) {
            forgetJournal();
        }
    }

    private ReplicationLink link(String db) {
        return link(Side.SOURCE, db);
    }

    /**
     * The forward link when {@code publisher} is the source, the reverse link when it is the target, of the
     * migration's engine: the one place the engine is chosen.
     */
    private ReplicationLink link(Side publisher, String db) {
        if (stream()) {
            return streamLink(publisher, db);
        }
        return nativeLink(publisher, db);
    }

    private StreamLink streamLink(Side publisher, String db) {
        return publisher == Side.SOURCE
                ? new StreamLink(db, publisher, names.publication(db), names.slot(db), names.subscription(db),
                names.reverseSubscription(db), names.fence(db), journal().database(db), sessions, streamWorkers)
                : new StreamLink(db, publisher, names.reversePublication(db), names.reverseSlot(db),
                names.reverseSubscription(db), names.subscription(db), names.fence(db), journal().database(db), sessions,
                streamWorkers);
    }

    /**
     * The NATIVE link of {@code publisher}; with STREAM, the same publication and slot (and journal flags), for what
     * both engines do with them alike (the copy's slot).
     */
    private NativeLink nativeLink(Side publisher, String db) {
        if (publisher == Side.SOURCE) {
            return new NativeLink(db, names.publication(db), names.subscription(db), names.slot(db),
                    journal().database(db), false, sessions, () -> new NativeLink.Peer(peer.endpoint(),
                    subscriptionPassword(peer, config.source(), db)));
        }
        return new NativeLink(db, names.reversePublication(db), names.reverseSubscription(db), names.reverseSlot(db),
                journal().database(db), true, sessions, () -> new NativeLink.Peer(reversePeer.endpoint(),
                subscriptionPassword(reversePeer, config.target(), db)));
    }

    /**
     * STREAM: runs in this process the worker of every link the journal says is to run. A stream runs in the process
     * that drives the migration, so a new driver (after a restart, a crash) starts them here.
     *
     * @return whether any link is to run
     */
    private boolean resumeStreams() {
        if (!stream()) {
            return false;
        }
        boolean any = false;
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                for (Side publisher : Side.values()) {
                    any |= streamLink(publisher, db).resume();
                }
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "starting the stream failed", e);
            }
        }
        return any;
    }

    private TriggerFence triggerFence(Side side, String db) {
        return triggerFence(side, db, true);
    }

    private DdlCarry ddl(String db) {
        return new DdlCarry(sessions, db, names.ddl(db), journal().database(db),
                config.schema().changes() == io.pgmigrate.SchemaChanges.FREEZE);
    }

    /**
     * Installs the DDL capture on the source and starts recording there (with a freeze: refusing). Returns false where
     * the migration role is not a superuser there (event triggers need one): schema changes are then not carried,
     * which preflight warned about (and refused, for a freeze).
     */
    private boolean carryDdlFrom(String db) {
        if (!ddl(db).install(Side.SOURCE, names.publication(db), names.fence(db), viaRoot(db), !stream())) {
            return notCarried(db);
        }
        ddl(db).capture(Side.SOURCE, true);
        return true;
    }

    /**
     * Completes {@link #carryDdlFrom}: the capture on the target, once its schema is there (its partitions get the
     * trigger that carries their {@code TRUNCATE}). Returns false, removing the source's, where the target's role is no
     * superuser.
     */
    private boolean carryDdlTo(String db) {
        DdlCarry ddl = ddl(db);
        // NATIVE's table synchronisation copies a table that joins late; STREAM takes only the ones a statement creates
        if (!ddl.install(Side.TARGET, names.reversePublication(db), names.fence(db), viaRoot(db), !stream())) {
            ddl.remove(Side.SOURCE);
            return notCarried(db);
        }
        if (ddl.freezes()) {
            ddl.capture(Side.TARGET, true);
        }
        return true;
    }

    private boolean notCarried(String db) {
        if (ddl(db).freezes()) {
            throw new PgMigrateException(CoreErrorCode.PREFLIGHT_FAILED, db, "schemaChanges(FREEZE) needs the"
                    + " migration role to be a superuser on both servers (an event trigger refuses the changes);"
                    + " connect as one, or build the migration without the freeze");
        }
        LOG.info("{}: schema changes are not carried (the migration role is no superuser on both sides)", db);
        return false;
    }

    /** Whether both servers publish partitioned tables as themselves (13 and later). */
    private boolean viaRoot(String db) {
        try {
            return sessions.source(db).getMetaData().getDatabaseMajorVersion() >= 13
                    && sessions.target(db).getMetaData().getDatabaseMajorVersion() >= 13;
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, db, "reading the server versions failed",
                    e);
        }
    }

    private List<TableRef> withQueue(String db, boolean carried, List<TableRef> tables) {
        if (!carried) {
            return tables;
        }
        List<TableRef> out = new ArrayList<>(tables);
        out.add(ddl(db).queue());
        return out;
    }

    private TriggerFence triggerFence(Side side, String db, boolean guardDdl) {
        return new TriggerFence(sessions, side, db, names.fence(db), config.name(), sha256(sessionKey),
                config.cutover().drainTimeout(), journal().database(db),
                List.of(names.subscription(db), names.reverseSubscription(db)),
                List.of(names.slot(db), names.reverseSlot(db)), guardDdl);
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public PreflightReport preflight() {
        observe();
        return new Preflight(source, target, config.databases(), names, journal(), config.schema(),
                config.copy().workers(), config.engine(), STREAM_CONNECTIONS).run();
    }

    @Override
    public synchronized void start() {
        PreflightReport checked = null;
        if (!owner.held()) {
            // Preflight before the lock: an unreachable server or a missing privilege is named by preflight, with
            // everything else it finds, rather than by the lock's connection.
            observe();
            if (!Cutover.pending(journal()) && Cutover.active(journal()) == Side.SOURCE) {
                checked = requireNoBlockers();
            }
        }
        own();
        if (!Cutover.pending(journal()) && Cutover.active(journal()) == Side.TARGET) {
            boolean resumed = resumeReverse();
            if (resumeStreams() || resumed) {
                return;
            }
        }
        if (Cutover.pending(journal()) || Cutover.active(journal()) != Side.SOURCE) {
            throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, "migration " + config.name() + " is "
                    + (Cutover.pending(journal()) ? "in the middle of a cutover; call cutover() or rollback()"
                    : "cut over to the target; start() would run the forward stream against the reverse one. Call"
                    + " rollback() to go back, or complete() to finish"));
        }
        PreflightReport report = checked != null ? checked : requireNoBlockers();
        for (io.pgmigrate.Finding f : report.findings()) {
            if (f.severity() == io.pgmigrate.Severity.WARNING) {
                warn(f.database(), f.check() + ": " + f.message());
            } else {
                LOG.info("preflight {}{}: {}", f.check(), f.database().isEmpty() ? "" : " (" + f.database() + ")",
                        f.message());
            }
        }
        List<InitialCopy.DatabaseCopy> toCopy = new ArrayList<>();
        try {
            for (String db : config.databases()) {
                try (Mdc.Scope s = Mdc.put(Mdc.DATABASE, db)) {
                    startDatabase(db, toCopy);
                }
            }
        } catch (RuntimeException e) {
            toCopy.forEach(d -> {
                if (d.slot() != null) {
                    d.slot().close();
                }
            });
            throw e;
        }
        if (!toCopy.isEmpty()) {
            InitialCopy run = new InitialCopy(sessions, this::copied, config.copy().maxBytesPerSecond());
            for (InitialCopy.DatabaseCopy d : toCopy) {
                try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, d.name())) {
                    run.add(d);
                }
            }
            copies.add(run);
            workers = copyWorkers(toCopy.get(0).name());
            LOG.info("copying {} database(s) with {} workers", toCopy.size(), workers);
            run.start(workers);
        }
    }

    /** Runs preflight and refuses, with its report, when it finds a blocker. */
    private PreflightReport requireNoBlockers() {
        Preflight check = new Preflight(source, target, config.databases(), names, journal(), config.schema(),
                config.copy().workers(), config.engine(), STREAM_CONNECTIONS);
        PreflightReport report = check.run();
        if (report.hasBlockers()) {
            // An unreachable server's own error (AUTHENTICATION_FAILED, ...) rides along as the cause.
            throw new PgMigrateException(CoreErrorCode.PREFLIGHT_FAILED, null, "preflight found "
                    + report.blockers().size() + " blocker(s); nothing was changed:\n" + report.toTable(),
                    check.connectionFailure().orElse(null));
        }
        return report;
    }

    @Override
    public synchronized void pause() {
        own();
        if (Cutover.pending(journal())) {
            throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, "migration " + config.name() + " is in the middle"
                    + " of a cutover; call cutover() or rollback() first");
        }
        for (String db : config.databases()) {
            if (journal().database(db).copy().isPresent() && liveCopy(db).map(InitialCopy.DatabaseCopy::running)
                    .orElse(false)) {
                throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, db, "the initial copy of " + db + " runs;"
                        + " pause() stops the stream, which starts once the copy is done. To stop the copy, close()"
                        + " the migration: start() resumes it later");
            }
        }
        Side publisher = Cutover.active(journal());
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                Journal.DatabaseEntry entry = journal().database(db);
                if (entry.phase() == Phase.NOT_STARTED || entry.phase() == Phase.COMPLETED) {
                    continue;
                }
                ReplicationLink link = link(publisher, db);
                try {
                    Connection subscriber = sessions.get(publisher.other(), db);
                    if (link.exists(subscriber)) {
                        link.disable(subscriber);
                    }
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "pausing the stream failed", e);
                }
                phase(db, entry, Phase.PAUSED);
            }
        }
    }

    /** After a cutover, {@code start()} resumes a paused reverse stream; false when none is paused. */
    private boolean resumeReverse() {
        boolean resumed = false;
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                Journal.DatabaseEntry entry = journal().database(db);
                if (entry.phase() != Phase.PAUSED) {
                    continue;
                }
                try {
                    link(Side.TARGET, db).enable(sessions.get(Side.SOURCE, db), false); // origin filter as it was
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "resuming the reverse stream"
                            + " failed", e);
                }
                phase(db, entry, Phase.CUT_OVER);
                resumed = true;
            }
        }
        return resumed;
    }

    private void startDatabase(String db, List<InitialCopy.DatabaseCopy> toCopy) {
        Journal.DatabaseEntry entry = journal().database(db);
        ReplicationLink link = link(db);
        NativeLink objects = nativeLink(Side.SOURCE, db);
        if (liveCopy(db).map(InitialCopy.DatabaseCopy::running).orElse(false)) {
            return; // this object copies it now, or is starting its stream: nothing to do, nothing to race with
        }
        DdlCarry.Hold held = null; // schema changes, from before the schema is read until the stream's start is set
        try {
            ensureTargetDatabase(db, entry);
            Connection src = sessions.source(db);
            Connection tgt = sessions.target(db);
            Phase recorded = entry.phase();
            Optional<CopyRecord> copy = entry.copy();
            // STREAM: set up once the copy handed over to the stream (its record is gone then)
            boolean subscribed = stream() ? link.exists(tgt) && copy.isEmpty() : link.exists(tgt);
            if (!subscribed && copy.isEmpty()
                    && (recorded == Phase.COPYING || recorded == Phase.STREAMING || recorded == Phase.PAUSED)) {
                // It existed (those phases are recorded after it was created): someone dropped it, and its slot with
                // it. Creating it again would copy every table into a target that holds them already.
                throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, db, link.applier()
                        + " is gone from the target (someone dropped it, with its slot), so the"
                        + " changes since cannot be streamed; call complete() and start the migration again (the"
                        + " target's tables must be emptied first)");
            }
            if (subscribed && stream() && !objects.slotPresent(src)) {
                throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, db, "replication slot "
                        + link.slot() + " is gone from the source (someone dropped it), so the changes since cannot"
                        + " be streamed; call complete() and start the migration again (the target's tables must be"
                        + " emptied first)");
            }
            if (subscribed && !link.publicationExists(src)) {
                throw new PgMigrateException(CoreErrorCode.REPLICATION_OBJECT_LOST, db, link.publicationLost("source"));
            }
            boolean recording = false;
            if (!subscribed && copy.isEmpty()) {
                phase(db, entry, Phase.SCHEMA);
                recording = carryDdlFrom(db);
                if (recording) {
                    held = ddl(db).hold(Side.SOURCE);
                }
                MigrationConfig.SchemaSettings settings = config.schema();
                // Objects the catalog copy cannot create were preflight blockers; with NONE and PG_DUMP it still
                // names the tables to publish.
                CatalogSchema schema = CatalogSchema.read(src, settings.ownershipAndGrants(),
                        CatalogSchema.keywords(tgt));
                if (settings.strategy() == SchemaStrategy.CATALOG) {
                    schema.requireCopyable(db);
                }
                // A start() that ended after creating the target's schema from an earlier read: the target keeps
                // that schema, and the changes recorded since are replayed before the copy (newCopy)
                boolean readBefore = recording && settings.strategy() != SchemaStrategy.NONE
                        && ddl(db).readApplied(tgt);
                if (recording && !readBefore) {
                    // the changes recorded from here on are the target's to replay
                    ddl(db).schemaRead(settings.strategy() == SchemaStrategy.CATALOG && noneOnTarget(tgt,
                            schema.tables()) ? afterDataParts(schema) : Map.of(), schema.tables());
                }
                if (readBefore) {
                    LOG.info("{}: the target has the schema an earlier start() read; the changes made since are"
                            + " replayed before the copy", db);
                } else {
                    createSchema(db, entry, settings, schema, src, tgt);
                }
                entry.mark(Flag.SCHEMA_COPIED);
                objects.ensurePublication(src, withQueue(db, recording && carryDdlTo(db), schema.tables()));
            }
            // The target takes no writes but the stream's until the cutover moves traffic there: a stray write (a
            // job pointed at the wrong host, an application instance started early, a switch that moved some traffic
            // and then failed) would diverge silently or be lost. Apply and copy workers run in replica mode, where
            // the fence's triggers do not fire; DDL stays allowed, for indexes the team builds ahead.
            // Engaged once: engaging again would drain the target (ending a CREATE INDEX CONCURRENTLY the team
            // runs there) at every resume; prepare() alone covers tables created there since.
            TriggerFence targetFence = triggerFence(Side.TARGET, db, false);
            if (targetFence.engaged()) {
                targetFence.prepare();
            } else {
                targetFence.engage();
            }
            // pgmigrate's own copy runs with the subscription created ahead, disabled; it is enabled after the copy.
            boolean ownCopy = copy.isPresent() && !link.enabled(tgt);
            if (ownCopy || (!subscribed && copy.isEmpty())) {
                copyDatabase(db, entry, objects, src, tgt, held != null).ifPresent(toCopy::add);
                return;
            }
            if (subscribed && stream()) {
                link.enable(tgt, false); // resumes a paused stream, or runs it in this process
                phase(db, entry, Phase.STREAMING);
            } else if (subscribed) {
                if (copy.isPresent()) {
                    // A cut-short copy handed to PostgreSQL's table synchronisation, itself interrupted.
                    handOverUnfinished(db, entry, objects, src, tgt);
                    return;
                }
                objects.ensureSubscription(src, tgt, peer.endpoint(), subscriptionPassword(peer, config.source(), db));
                LinkState state = link.read(src, tgt);
                phase(db, entry, state.allTablesReady() ? Phase.STREAMING : Phase.COPYING);
            }
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "starting the migration failed", e);
        } finally {
            if (held != null) {
                held.close();
            }
        }
    }

    /**
     * Creates {@code schema} on the target by the configured strategy (with the catalog copy, up to its data), unless
     * the tables are there already (the user's own schema, which must then be empty).
     */
    private void createSchema(String db, Journal.DatabaseEntry entry, MigrationConfig.SchemaSettings settings,
                              CatalogSchema schema, Connection src, Connection tgt) throws SQLException {
        try (Mdc.Scope onTarget = Mdc.side(Side.TARGET)) {
            // The intent first: a process that dies after the tables were created still builds the rest.
            boolean intent = settings.strategy() == SchemaStrategy.CATALOG
                    && !entry.flag(Flag.AFTER_DATA_PENDING);
            if (intent) {
                entry.mark(Flag.AFTER_DATA_PENDING);
            }
            boolean created = switch (settings.strategy()) {
                // What comes after the data is built once it is there (afterData).
                case CATALOG -> CatalogSchema.apply(tgt, db, schema.tables(), schema.beforeData());
                case PG_DUMP -> {
                    PgDump pgDump = PgDump.find(settings.pgDump(), src.getMetaData().getDatabaseMajorVersion(),
                            tgt.getMetaData().getDatabaseMajorVersion());
                    String script = pgDump.dump(source, db, settings.ownershipAndGrants());
                    // A session of its own: the script changes session settings (search_path among them).
                    try (Connection c = target.connect(db)) {
                        boolean done = CatalogSchema.apply(c, db, schema.tables(), List.of(script));
                        if (done) {
                            LOG.info("{}: applied the schema from {}", db, pgDump);
                        }
                        yield done;
                    }
                }
                case NONE -> false;
            };
            if (intent && !created) {
                entry.unmark(Flag.AFTER_DATA_PENDING); // the tables were there before: someone else's schema
            }
            if (created && settings.strategy() == SchemaStrategy.CATALOG) {
                LOG.info("{}: created the schema on the target up to its data ({} tables, {} statements; {}"
                        + " indexes and {} more statements follow the data)", db, schema.tables().size(),
                        schema.beforeData().size(), schema.indexes().size(),
                        schema.afterData().size() + schema.foreignKeys().size());
                schemas.put(db, schema);
            } else if (!created) {
                requireEmpty(tgt, db, schema.tables());
            }
        }
    }

    /** The copy's worker count as sized at the last start(); what comes after the data uses as many sessions. */
    private volatile int workers;
    /** The schema each database's copy created before its data, kept for what comes after it. */
    private final Map<String, CatalogSchema> schemas = new java.util.concurrent.ConcurrentHashMap<>();
    /** The copies this object runs; a database is in at most one that still works on it. */
    private final List<InitialCopy> copies = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** The copy of {@code db} this process runs or ran last, if any. */
    private Optional<InitialCopy.DatabaseCopy> liveCopy(String db) {
        for (int i = copies.size() - 1; i >= 0; i--) {
            Optional<InitialCopy.DatabaseCopy> d = copies.get(i).database(db);
            if (d.isPresent()) {
                return d;
            }
        }
        return Optional.empty();
    }

    /** The marker table of a database's copy on the target: one row per chunk committed. */
    private String copyMarkers(String db) {
        return quote(names.fence(db)) + ".copied";
    }

    /**
     * Starts or resumes the initial copy of {@code db}, which pgmigrate runs itself: the rows are read in the snapshot
     * its slot exported, so the stream from that slot carries on exactly where the copy's rows end.
     *
     * @param holding whether the caller holds schema changes on the source already
     * @return the database's part of the copy to run, or empty when there is nothing to copy now
     */
    private Optional<InitialCopy.DatabaseCopy> copyDatabase(String db, Journal.DatabaseEntry entry, NativeLink link,
                                                            Connection src, Connection tgt, boolean holding)
            throws SQLException {
        Optional<InitialCopy.DatabaseCopy> live = liveCopy(db);
        if (live.isPresent() && (live.get().running() || live.get().finished())) {
            return Optional.empty(); // copying now, or copied and streaming
        }
        Optional<CopyRecord> record = entry.copy();
        if (live.isPresent() && live.get().slot() != null && live.get().slot().held() && record.isPresent()) {
            // The copy stopped on an error but its snapshot is still held: the chunks not done are copied in it.
            reconcile(db, entry, tgt); // the chunks the journal did not hear of before the copy stopped
            LOG.info("{}: resuming the initial copy in its snapshot {}", db, live.get().slot().snapshot());
            return Optional.of(new InitialCopy.DatabaseCopy(db, live.get().slot(), entry, copyMarkers(db),
                    live.get().chunks(), freezes(db)));
        }
        if (record.isPresent() && record.get().snapshot().isEmpty()) {
            // Planned, but the slot and its snapshot were never recorded: nothing was copied. Plan again; the new
            // plan replaces this record in one write (without a record, a disabled subscription would look lost).
            link.dropOwnSlot(src);
            record = Optional.empty();
        }
        if (record.isPresent()) {
            record = Optional.of(reconcile(db, entry, tgt));
            CopyRecord r = record.get();
            boolean slotThere = link.slotPresent(src);
            if (slotThere && r.complete() && !r.snapshot().isEmpty()) {
                // Every row is there; the slot still starts where they end. Only what follows the data is missing.
                return Optional.of(new InitialCopy.DatabaseCopy(db, null, entry, copyMarkers(db), List.of(), false));
            }
            if (slotThere && !r.snapshot().isEmpty() && !completeTables(r).isEmpty() && !stream()) {
                handOverUnfinished(db, entry, link, src, tgt);
                return Optional.empty();
            }
            // Nothing finished worth keeping, or the slot is gone: start the copy again from scratch. STREAM has no
            // table synchronisation to hand unfinished tables to: without the snapshot, rows copied now would not meet
            // the stream, so every table is copied again, in a new snapshot of a new slot.
            warn(db, "the initial copy was interrupted " + (!slotThere ? "and its replication slot " + link.slot()
                    + " is gone" : stream() ? "and the snapshot it copied in ended with the process that held it"
                    : "before any table was complete") + "; it starts again from the"
                    + " beginning, after emptying the tables it had begun on the target");
            emptyOnTarget(db, r, r.chunks().stream().map(c -> new TableRef(c.schema(), c.table())).distinct()
                    .toList());
            link.dropOwnSlot(src);
            // Empty now, with nothing copied: should the replay below stop (a statement that fails, the process
            // ending), the next start() plans afresh instead of emptying by names the replay may have changed.
            entry.changeCopy(c -> c.withSlot(Lsn.ZERO, ""));
        }
        return Optional.of(newCopy(db, entry, link, src, tgt, holding));
    }

    /**
     * Plans a copy of {@code db} from the beginning and creates the slot whose snapshot it copies in.
     *
     * @return the database's part of the copy to run
     */
    private InitialCopy.DatabaseCopy newCopy(String db, Journal.DatabaseEntry entry, NativeLink link, Connection src,
                                             Connection tgt, boolean holding) throws SQLException {
        DdlCarry ddl = ddl(db);
        try (DdlCarry.Hold held = !holding && ddl.installed(Side.SOURCE) ? ddl.hold(Side.SOURCE) : null) {
            // (a partition's TRUNCATE alone needs nothing: the copy's snapshot is later)
            if ((holding || held != null) && ddl.missesSchemaChanges(Side.SOURCE, Side.TARGET)) {
                // Recorded since the schema was read for the target (a copy that starts again, or an earlier start()
                // that ended before its slot): in neither the target's schema nor the new slot's stream. Replayed
                // there now, with changes held until the slot is there, so that none falls between the two. They may
                // change what follows the data (drop an index still to be built): that is built first, as read then,
                // on the tables still empty.
                if (afterDataPending(db)) {
                    afterData(db, false);
                    entry.unmark(Flag.AFTER_DATA_PENDING);
                }
                ddl.replayMissed(Side.SOURCE, Side.TARGET);
            }
            return snapshotCopy(db, entry, link, src, tgt);
        }
    }

    /** {@link #newCopy} once the target has the schema the copy's slot starts from. */
    private InitialCopy.DatabaseCopy snapshotCopy(String db, Journal.DatabaseEntry entry, NativeLink link,
                                                  Connection src, Connection tgt) throws SQLException {
        // the DDL queue is streamed, never copied: its rows from before the snapshot are in the schema already
        List<TableRef> tables = link.published(src).stream().filter(t -> !DdlCarry.isQueue(t.schema(), t.name()))
                .toList();
        boolean binary = tgt.getMetaData().getDatabaseMajorVersion() >= src.getMetaData().getDatabaseMajorVersion();
        List<CopyPlan.Chunk> plan = CopyPlan.plan(src, db, tables, binary, config.copy().partBytes());
        Queries.execute(tgt, "CREATE TABLE IF NOT EXISTS " + copyMarkers(db) + " (leaf_schema text, leaf text,"
                + " part int, rows bigint, bytes bigint, PRIMARY KEY (leaf_schema, leaf, part))");
        Queries.execute(tgt, "TRUNCATE " + copyMarkers(db));
        // The plan before the subscription and the slot: a process that dies in between finds them ours, and starts
        // the copy again.
        entry.copy(Optional.of(new CopyRecord(Lsn.ZERO, "", tables.stream()
                .map(t -> new CopyRecord.Table(t.schema(), t.name())).toList(), InitialCopy.records(plan))));
        if (!stream()) {
            // A copy that starts again: the one created ahead for the first lists the tables as they were then
            link.dropIfStale(src, tgt);
        }
        if (!stream() && !link.subscriptionExists(tgt)) {
            // Ahead of the copy and disabled, enabled once the rows are there: the target's connection to the source
            // is proven now, not after hours of copying. It copies nothing and lists every table as ready.
            link.ensureSubscription(src, tgt, peer.endpoint(), subscriptionPassword(peer, config.source(), db),
                    new NativeLink.Options(false, false, false, false));
        }
        SnapshotSlot slot = link.createSlotWithSnapshot(src, source);
        ddl(db).streamStarts(Side.SOURCE); // schema changes recorded before the slot are in the copied schema or lost
        try {
            entry.changeCopy(r -> r.withSlot(slot.consistentPoint(), slot.snapshot()));
            phase(db, entry, Phase.COPYING);
        } catch (RuntimeException e) {
            slot.close();
            throw e;
        }
        return new InitialCopy.DatabaseCopy(db, slot, entry, copyMarkers(db), plan, freezes(db));
    }

    /** What follows the data of {@code schema}, as {@link DdlCarry#schemaRead} keeps it. */
    private static Map<String, List<String>> afterDataParts(CatalogSchema schema) {
        return Map.of("index", schema.indexes(), "after", schema.afterData(), "foreign key", schema.foreignKeys(),
                "check", schema.validations());
    }

    /** Whether the target has none of {@code tables}: the schema copy is about to create them. */
    private static boolean noneOnTarget(Connection tgt, List<TableRef> tables) throws SQLException {
        for (TableRef t : tables) {
            if (Queries.exists(tgt, "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    + " WHERE n.nspname = ? AND c.relname = ? AND c.relkind IN ('r', 'p')", t.schema(), t.name())) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether the copy may write rows frozen: with the catalog copy, nothing refers to a table before its data is
     * there (foreign keys, triggers come after), so emptying it in the chunk's transaction is allowed.
     */
    private boolean freezes(String db) {
        return afterDataPending(db);
    }

    /**
     * Whether this migration's catalog copy created the schema up to its data, so that indexes, keys, triggers and
     * foreign keys are its to create after it ({@link Flag#AFTER_DATA_PENDING}); not when the user (or an earlier
     * start) had created the tables, nor with PG_DUMP or NONE.
     */
    private boolean afterDataPending(String db) {
        return journal().database(db).flag(Flag.AFTER_DATA_PENDING);
    }

    /**
     * The journal's copy record with every chunk the target's marker table holds marked done: a chunk commits there
     * with its marker, and the process may have died before the journal heard of it.
     */
    private CopyRecord reconcile(String db, Journal.DatabaseEntry entry, Connection tgt) throws SQLException {
        if (Queries.string(tgt, "SELECT to_regclass(?)::text", copyMarkers(db)) != null) {
            record Marker(String schema, String leaf, int part, long rows, long bytes) { }
            List<Marker> markers = Queries.list(tgt, "SELECT leaf_schema, leaf, part, rows, bytes FROM "
                    + copyMarkers(db), rs -> new Marker(rs.getString(1), rs.getString(2), rs.getInt(3), rs.getLong(4),
                    rs.getLong(5)));
            Set<String> done = new java.util.HashSet<>();
            entry.copy().orElseThrow().chunks().stream().filter(CopyRecord.ChunkRecord::done)
                    .forEach(c -> done.add(c.leafSchema() + "\u0000" + c.leaf() + "\u0000" + c.part()));
            List<Marker> unknown = markers.stream()
                    .filter(m -> !done.contains(m.schema() + "\u0000" + m.leaf() + "\u0000" + m.part())).toList();
            if (!unknown.isEmpty()) {
                // One save for all of them: a resume may learn of many chunks at once.
                entry.changeCopy(r -> {
                    CopyRecord next = r;
                    for (Marker m : unknown) {
                        next = next.withDone(m.schema(), m.leaf(), m.part(), m.rows(), m.bytes());
                    }
                    return next;
                });
            }
        }
        return entry.copy().orElseThrow();
    }

    /** The published tables every chunk of which is on the target. */
    private static Set<TableRef> completeTables(CopyRecord r) {
        Map<TableRef, Boolean> complete = new java.util.LinkedHashMap<>();
        for (CopyRecord.ChunkRecord c : r.chunks()) {
            complete.merge(new TableRef(c.schema(), c.table()), c.done(), Boolean::logicalAnd);
        }
        Set<TableRef> out = new java.util.TreeSet<>();
        complete.forEach((t, done) -> {
            if (done) {
                out.add(t);
            }
        });
        return out;
    }

    /**
     * Empties the given published tables on the target: the leaves the copy writes to ({@code ONLY}, so no other table
     * is touched). TRUNCATE while nothing can refer to them yet (the catalog copy before its after-data step); DELETE in
     * replica mode otherwise, where foreign keys check nothing: TRUNCATE refuses a table another one points to.
     */
    private void emptyOnTarget(String db, CopyRecord record, List<TableRef> tables) throws SQLException {
        Set<TableRef> published = Set.copyOf(tables);
        List<TableRef> leaves = record.chunks().stream()
                .filter(c -> published.contains(new TableRef(c.schema(), c.table())))
                .map(c -> new TableRef(c.leafSchema(), c.leaf())).distinct().toList();
        if (leaves.isEmpty()) {
            return;
        }
        try (Mdc.Scope onTarget = Mdc.side(Side.TARGET); Connection c = sessions.fresh(Side.TARGET, db)) {
            boolean referable = !afterDataPending(db)
                    || Queries.string(c, "SELECT to_regclass(?)::text", quote(names.fence(db)) + ".after_data") != null;
            if (!referable) {
                Queries.execute(c, "TRUNCATE " + leaves.stream().map(t -> "ONLY " + t.quoted())
                        .collect(java.util.stream.Collectors.joining(", ")));
            } else {
                Queries.inTransaction(c, () -> {
                    Queries.execute(c, "SET LOCAL session_replication_role = replica");
                    for (TableRef t : leaves) {
                        Queries.execute(c, "DELETE FROM ONLY " + t.quoted());
                    }
                });
            }
            LOG.info("{}: emptied {} tables on the target", db, leaves.size());
        }
    }

    /**
     * The safe way on when the process that held a copy's snapshot ended before every table was copied: without the
     * snapshot, rows copied now would not meet the slot's stream. Tables copied in full stay (their rows are the
     * snapshot's, and the slot streams every change since). The others are emptied and handed to PostgreSQL's table
     * synchronisation: the subscription starts on the slot with the complete tables only, then the publication gets
     * the others back and a refresh copies each in a snapshot of its own, which PostgreSQL aligns with the stream.
     * Foreign keys wait until those tables are filled ({@link Flag#FOREIGN_KEYS_PENDING}).
     */
    private void handOverUnfinished(String db, Journal.DatabaseEntry entry, NativeLink link, Connection src,
                                    Connection tgt) throws SQLException {
        CopyRecord r = reconcile(db, entry, tgt);
        Set<TableRef> complete = completeTables(r);
        List<TableRef> all = r.tables().stream().map(t -> new TableRef(t.schema(), t.name())).sorted().toList();
        List<TableRef> unfinished = all.stream().filter(t -> !complete.contains(t)).toList();
        boolean handedOver = link.subscriptionEnabled(tgt);
        if (!handedOver) {
            warn(db, "the initial copy was cut short when the process that held its snapshot ended: " + complete.size()
                    + " of " + all.size() + " tables were copied in full and are kept; the other " + unfinished.size()
                    + " are emptied and copied again by PostgreSQL's table synchronisation, which aligns each of them"
                    + " with the stream (rows copied without the snapshot would not meet the stream exactly)");
            emptyOnTarget(db, r, unfinished);
            if (!unfinished.isEmpty() && afterDataPending(db)) {
                entry.mark(Flag.FOREIGN_KEYS_PENDING); // before the keys are added, so a crash cannot lose their check
            }
            afterData(db, !unfinished.isEmpty());
            link.ensurePublicationOf(src, withQueue(db, ddl(db).installed(Side.SOURCE), List.copyOf(complete)));
            link.dropIfStale(src, tgt); // the one created ahead lists every table
            link.ensureSubscription(src, tgt, peer.endpoint(), subscriptionPassword(peer, config.source(), db),
                    new NativeLink.Options(false, false, true, false));
        }
        ddl(db).joining(Side.SOURCE, unfinished); // before they are published again
        link.ensurePublicationOf(src, withQueue(db, ddl(db).installed(Side.SOURCE), all));
        link.refreshCopying(tgt);
        entry.copy(Optional.empty());
        Queries.execute(tgt, "DROP TABLE IF EXISTS " + copyMarkers(db));
        phase(db, entry, Phase.COPYING);
    }

    /**
     * What follows the data of a database whose copy pgmigrate ran: with the catalog copy, the indexes (several at
     * once, each on a session of its own), then keys, triggers and the rest in one transaction, and the foreign keys
     * last unless {@code deferForeignKeys}. Runs once: a marker table, created in that transaction, says it ran.
     */
    private void afterData(String db, boolean deferForeignKeys) throws SQLException {
        if (!afterDataPending(db)) {
            return; // pg_dump's script, or the user's schema, was complete before the data
        }
        String marker = quote(names.fence(db)) + ".after_data";
        try (Mdc.Scope onTarget = Mdc.side(Side.TARGET); Connection tgt = sessions.fresh(Side.TARGET, db)) {
            CatalogSchema schema = schemas.get(db);
            if (schema == null) { // read by an earlier process: as it kept it, when the capture was there
                schema = ddl(db).afterDataPlan().map(p -> new CatalogSchema(List.of(), List.of(),
                        p.getOrDefault("index", List.of()), p.getOrDefault("after", List.of()),
                        p.getOrDefault("foreign key", List.of()), p.getOrDefault("check", List.of()), List.of(),
                        List.of())).orElse(null);
            }
            if (schema == null) {
                try (Connection src = sessions.fresh(Side.SOURCE, db)) {
                    schema = CatalogSchema.read(src, config.schema().ownershipAndGrants(), CatalogSchema.keywords(tgt));
                }
            }
            if (Queries.string(tgt, "SELECT to_regclass(?)::text", marker) != null) {
                if (!deferForeignKeys) {
                    runParallel(db, schema.validations(), "check"); // an interrupted run may not have checked them
                }
                return;
            }
            long started = System.nanoTime();
            runParallel(db, schema.indexes(), "build");
            long indexed = System.nanoTime();
            List<String> rest = new ArrayList<>(schema.afterData());
            // Added NOT VALID (no scan) unless the table is partitioned or the key is not valid on the source; those
            // wait, with the checks, when the tables they point to are still to be filled.
            schema.foreignKeys().stream().filter(k -> !deferForeignKeys || k.endsWith(" NOT VALID"))
                    .forEach(rest::add);
            Queries.inTransaction(tgt, () -> {
                Queries.execute(tgt, "SET LOCAL check_function_bodies = off");
                for (String statement : rest) {
                    try {
                        Queries.execute(tgt, statement);
                    } catch (SQLException e) {
                        throw PgMigrateException.fromSql(CoreErrorCode.SCHEMA_COPY_FAILED, db, "cannot create on the"
                                + " target after the data: " + CatalogSchema.firstLine(statement), e);
                    }
                }
                Queries.execute(tgt, "CREATE TABLE " + marker + " ()");
            });
            long rested = System.nanoTime();
            if (!deferForeignKeys) {
                runParallel(db, schema.validations(), "check");
            }
            LOG.info("{}: after the data, built {} indexes in {} ms, ran {} statements in {} ms and checked {} foreign"
                    + " keys in {} ms", db, schema.indexes().size(), (indexed - started) / 1_000_000, rest.size(),
                    (rested - indexed) / 1_000_000, deferForeignKeys ? 0 : schema.validations().size(),
                    (System.nanoTime() - rested) / 1_000_000);
        }
    }

    /**
     * Adds the foreign keys that waited for PostgreSQL's table synchronisation and checks them all, once every table
     * is ready. Runs again harmlessly: a key already there is skipped, and checking a checked key does nothing.
     */
    private void pendingForeignKeys(String db, Journal.DatabaseEntry entry) throws SQLException {
        if (!entry.flag(Flag.FOREIGN_KEYS_PENDING)) {
            return;
        }
        try (Mdc.Scope onTarget = Mdc.side(Side.TARGET); Connection tgt = sessions.fresh(Side.TARGET, db);
             Connection src = sessions.fresh(Side.SOURCE, db)) {
            CatalogSchema schema = CatalogSchema.read(src, config.schema().ownershipAndGrants(),
                    CatalogSchema.keywords(tgt));
            for (String statement : schema.foreignKeys()) {
                if (statement.endsWith(" NOT VALID")) {
                    continue; // added with the rest
                }
                try {
                    Queries.inTransaction(tgt, () -> Queries.execute(tgt, statement));
                } catch (SQLException e) {
                    if (!"42710".equals(e.getSQLState())) { // duplicate_object: added by an earlier attempt
                        throw e;
                    }
                }
            }
            runParallel(db, schema.validations(), "check");
            LOG.info("{}: checked {} foreign keys now that every table is copied", db, schema.validations().size());
        }
        entry.unmark(Flag.FOREIGN_KEYS_PENDING);
    }

    /**
     * Runs {@code statements} several at once, each in a transaction of its own, on as many target sessions as the
     * copy has workers (each session runs one statement after the other).
     */
    private void runParallel(String db, List<String> statements, String what) {
        if (statements.isEmpty()) {
            return;
        }
        java.util.Queue<String> queue = new java.util.concurrent.ConcurrentLinkedQueue<>(statements);
        List<RuntimeException> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<Thread> threads = new ArrayList<>();
        int sessionsUsed = Math.min(statements.size(), workers > 0 ? workers : 2);
        for (int i = 0; i < sessionsUsed; i++) {
            Thread t = new Thread(Mdc.carrying(() -> {
                try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db); Mdc.Scope onTarget = Mdc.side(Side.TARGET);
                     Connection c = sessions.fresh(Side.TARGET, db)) {
                    // An index build or a check may work for long without a byte on the wire: neither the server's
                    // statement bound nor the endpoint's socket timeout is meant for it.
                    Queries.execute(c, "SET statement_timeout = 0");
                    c.setNetworkTimeout(Runnable::run, 0);
                    String ddl;
                    boolean serial = false;
                    while (failures.isEmpty() && (ddl = queue.poll()) != null) {
                        try {
                            // While every session has a statement, an index build's parallel workers only add
                            // processes; the last builds get them back.
                            boolean busy = queue.size() >= sessionsUsed;
                            if (busy != serial) {
                                Queries.execute(c, busy ? "SET max_parallel_maintenance_workers = 0"
                                        : "RESET max_parallel_maintenance_workers");
                                serial = busy;
                            }
                            Queries.execute(c, ddl);
                        } catch (SQLException e) {
                            throw PgMigrateException.fromSql(CoreErrorCode.SCHEMA_COPY_FAILED, db, "cannot " + what
                                    + " on the target: " + CatalogSchema.firstLine(ddl), e);
                        }
                    }
                } catch (SQLException e) {
                    failures.add(PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, db, "a session to "
                            + what + " on the target failed", e));
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }), "pgmigrate-" + what + "-" + (i + 1));
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PgMigrateException(CoreErrorCode.INTERRUPTED, db, "interrupted while waiting to " + what
                        + " on the target", e);
            }
        }
        if (!failures.isEmpty()) {
            throw failures.get(0);
        }
    }

    /**
     * Called by the copy once every row of a database is on the target: builds what follows the data, then starts
     * the stream on the copy's slot. The subscription copies nothing; its worker starts at the slot's consistent
     * point, which is where the copy's snapshot ends.
     */
    private void copied(InitialCopy.DatabaseCopy copy) throws SQLException {
        String db = copy.name();
        Journal.DatabaseEntry entry = journal().database(db);
        afterData(db, false);
        if (copy.slot() != null) {
            copy.slot().close(); // the snapshot has served
        }
        try (Connection src = sessions.fresh(Side.SOURCE, db); Connection tgt = sessions.fresh(Side.TARGET, db)) {
            if (stream()) {
                // The record first: start() enables a stream whose copy has no record (should this process end
                // in between). The worker starts at the slot's consistent point, where the copy's snapshot ends.
                entry.copy(Optional.empty());
                link(db).enable(tgt, false);
            } else {
                nativeLink(Side.SOURCE, db).ensureSubscription(src, tgt, peer.endpoint(),
                        subscriptionPassword(peer, config.source(), db), new NativeLink.Options(false, false, true,
                                false));
                entry.copy(Optional.empty());
            }
            Queries.execute(tgt, "DROP TABLE IF EXISTS " + copyMarkers(db));
        }
        phase(db, entry, Phase.STREAMING);
    }

    /**
     * How many chunks are copied at once: the configured number, or else 4, never more than both servers have
     * connections to spare for (each worker holds one on each side).
     */
    private int copyWorkers(String db) {
        if (config.copy().workers() > 0) {
            return config.copy().workers();
        }
        try {
            int spare = Integer.MAX_VALUE;
            for (Side side : Side.values()) {
                spare = Math.min(spare, Integer.parseInt(Queries.string(sessions.get(side, db), """
                        SELECT current_setting('max_connections')::int
                               - current_setting('superuser_reserved_connections')::int
                               - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
                        """)));
            }
            // Half of what is spare, keeping room for the application and for the migration's other sessions.
            return Math.max(1, Math.min(4, spare / 2 - 2));
        } catch (SQLException e) {
            return 2;
        }
    }

    private void ensureTargetDatabase(String db, Journal.DatabaseEntry entry) throws SQLException {
        try (Mdc.Scope onSide = Mdc.side(Side.TARGET)) {
            Connection admin = sessions.target(MAINTENANCE_DB);
            if (Queries.exists(admin, "SELECT 1 FROM pg_database WHERE datname = ?", db)) {
                return;
            }
            record Locale(String encoding, String collate, String ctype) { }
            Locale props = Queries.first(sessions.source(db), """
                    SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database
                    WHERE datname = current_database()
                    """, rs -> new Locale(rs.getString(1), rs.getString(2), rs.getString(3))).orElseThrow();
            String base = "CREATE DATABASE " + quote(db) + " TEMPLATE template0 ENCODING " + literal(props.encoding());
            try {
                Queries.execute(admin, base + " LC_COLLATE " + literal(props.collate()) + " LC_CTYPE "
                        + literal(props.ctype()));
            } catch (SQLException e) {
                // The source's locale may not exist on the target; the encoding is what must match.
                LOG.warn("{}: creating the target database with the source's locale failed ({}); using the target's default",
                        db, e.getMessage());
                Queries.execute(admin, base);
                warn(db, "the target database was created with the target's default locale, not the source's "
                        + props.collate() + "; text sort order may differ");
            }
            entry.mark(Flag.TARGET_DATABASE_CREATED);
            LOG.info("{}: created the database on the target", db);
        }
    }

    private static void requireEmpty(Connection tgt, String db, List<TableRef> tables) throws SQLException {
        for (TableRef t : tables) {
            if (Queries.exists(tgt, "SELECT 1 FROM " + t.quoted() + " LIMIT 1")) {
                throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, db, "the target table " + t
                        + " already holds rows; the initial copy would duplicate them. Empty it on the target"
                        + " (TRUNCATE " + t.quoted() + ") or leave this database out of the migration");
            }
        }
    }

    @Override
    public MigrationStatus awaitInSync(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        forgetApplyFailures();
        Map<String, Lsn> goal = new HashMap<>();
        observe();
        runStreamsUnlessDrivenElsewhere();
        Side publisher = Cutover.active(journal());
        for (String db : config.databases()) {
            goal.put(db, mark(publisher, db));
        }
        long nextProgress = 0;
        long pause = 20;
        while (true) {
            subscribeNewTables();
            MigrationStatus st = status();
            long now = System.nanoTime();
            if (now >= nextProgress) {
                notifyProgress(st);
                nextProgress = now + config.progressInterval().toNanos();
            }
            boolean done = true;
            for (DatabaseStatus d : st.databases()) {
                if (d.phase() == Phase.FAILED) {
                    throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, d.database(), d.message());
                }
                done &= d.allTablesReady() && d.confirmedLsn().isAtOrAfter(goal.get(d.database()));
            }
            if (done) {
                if (!stream() && !Cutover.pending(journal()) && owner.held()) {
                    // the copies may have ended since this round's subscribeNewTables: in sync means truncatable
                    config.databases().forEach(this::liftJoiningMarks);
                }
                return st;
            }
            if (now > deadline) {
                throw new PgMigrateException(CoreErrorCode.TIMEOUT, "not in sync after " + timeout + ": " + describe(st));
            }
            Waits.pause(Math.min(pause, Math.max(1, (deadline - now) / 1_000_000)), null);
            pause = Math.min(pause * 2, 250);
        }
    }

    /**
     * NATIVE: tables that joined the publication while the stream ran (created, or detached from a partitioned
     * table, on the side that takes writes; the DDL capture publishes them in the same transaction) are subscribed,
     * and PostgreSQL's table synchronisation copies each in a snapshot it aligns with the stream. Until then the
     * apply worker skips their changes, so what the subscriber holds of them (a detached partition's rows) is
     * removed first: the copy brings every row. STREAM needs none of this: the table joins the stream at the
     * position its statement has in it.
     */
    private void subscribeNewTables() {
        if (stream() || Cutover.pending(journal()) || !owner.held()) {
            return; // a process that only watches changes nothing
        }
        for (String db : config.databases()) {
            subscribeNewTables(db);
        }
    }

    /**
     * NATIVE: lifts the refusal of a partition's {@code TRUNCATE} from the partitioned tables that the table
     * synchronisation has copied ({@link DdlCarry#joined}).
     */
    private void liftJoiningMarks(String db) {
        Side publisher = Cutover.active(journal());
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
            if (ddl(db).installed(publisher)) {
                ddl(db).joined(publisher, sessions.get(publisher.other(), db),
                        nativeLink(publisher, db).subscription());
            }
        } catch (SQLException | PgMigrateException e) {
            warn(db, "reading which partitioned tables are copied failed (awaitInSync tries again): " + e.getMessage());
        }
    }

    /** {@link #subscribeNewTables()} for one database; returns the tables it subscribed. */
    private List<TableRef> subscribeNewTables(String db) {
        Side publisher = Cutover.active(journal());
        if (stream() || !ddl(db).installed(publisher)) {
            return List.of();
        }
        NativeLink link = nativeLink(publisher, db);
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
            Connection pub = sessions.get(publisher, db);
            Connection sub = sessions.get(publisher.other(), db);
            if (!link.subscriptionEnabled(sub)) {
                return List.of();
            }
            liftJoiningMarks(db);
            // only what the subscriber has as a table of its own: a table whose creation (or detaching) the stream
            // has not applied there yet waits for the next round
            List<TableRef> missing = new ArrayList<>();
            for (TableRef t : link.read(pub, sub).unsubscribed()) {
                if (Queries.exists(sub, "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        + " WHERE n.nspname = ? AND c.relname = ? AND NOT c.relispartition", t.schema(), t.name())) {
                    missing.add(t);
                }
            }
            if (missing.isEmpty()) {
                return List.of();
            }
            Queries.inTransaction(sub, () -> {
                Queries.execute(sub, "SET LOCAL session_replication_role = replica");
                for (TableRef t : missing) {
                    Queries.execute(sub, "DELETE FROM " + t.quoted());
                }
            });
            link.refreshCopying(sub);
            LOG.info("{}: {} joined the stream; PostgreSQL's table synchronisation copies them", db, missing);
            return missing;
        } catch (SQLException e) {
            warn(db, "subscribing tables that joined the publication failed (awaitInSync tries again): "
                    + e.getMessage());
            return List.of();
        }
    }

    /**
     * STREAM: a wait for the stream in a process that does not run it would only run into its timeout. Unless another
     * process drives the migration (and runs its streams), this one takes the lock, as {@code start()} does, and runs
     * the streams the journal says are to run.
     */
    private synchronized void runStreamsUnlessDrivenElsewhere() {
        if (!stream()) {
            return;
        }
        if (!owner.held()) {
            try {
                own();
            } catch (PgMigrateException e) {
                if (e.code() != CoreErrorCode.MIGRATION_IN_USE) {
                    throw e;
                }
                return; // the driver runs them
            }
        }
        if (!Cutover.pending(journal())) {
            resumeStreams();
        }
    }

    private void notifyProgress(MigrationStatus st) {
        tell("onProgress", l -> l.onProgress(st));
    }

    /**
     * Calls every listener; one that throws is logged and never stops the migration, nor keeps the others from
     * hearing: a listener's bug must not abort a cutover between its steps.
     */
    private void tell(String event, Consumer<MigrationListener> call) {
        for (MigrationListener l : config.listeners()) {
            try {
                call.accept(l);
            } catch (RuntimeException | AssertionError | LinkageError e) {
                // an assertion or a missing class too: the other listeners still hear, and a cutover goes on
                LOG.warn("listener {} threw from {}; ignored", l.getClass().getName(), event, e);
            }
        }
    }

    private synchronized Lsn mark(Side publisher, String db) {
        try {
            return NativeSentinel.emit(sessions.get(publisher, db));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "marking the "
                    + sessions.connector(publisher).role() + "'s WAL position failed", e);
        }
    }

    private static String describe(MigrationStatus st) {
        List<String> parts = new ArrayList<>();
        for (DatabaseStatus d : st.databases()) {
            long notReady = d.tables().stream().filter(t -> t.state() != io.pgmigrate.CopyState.READY).count();
            parts.add(d.database() + ": " + d.phase() + ", " + notReady + " of " + d.tables().size()
                    + " tables still copying, lag " + d.lagBytes() + " bytes"
                    + (d.message().isEmpty() ? "" : ", " + d.message()));
        }
        return String.join("; ", parts);
    }

    @Override
    public synchronized MigrationStatus recordedStatus() {
        observe();
        if (config.stateStore().load(config.name()).isEmpty()) {
            // Nothing recorded: not "not started", which a wrong directory or name would claim as well.
            List<DatabaseStatus> none = new ArrayList<>();
            for (String db : config.databases()) {
                none.add(new DatabaseStatus(db, Phase.NOT_STARTED, Lsn.ZERO, Lsn.ZERO, -1, Duration.ZERO, List.of(),
                        "nothing is recorded for migration " + config.name() + " in " + config.stateStore()
                                + ": it never started with this state store, or the name or store is another one",
                        null, -1));
            }
            return new MigrationStatus(config.name(), Instant.now(), none);
        }
        List<DatabaseStatus> out = new ArrayList<>();
        Side active = Cutover.active(journal());
        boolean pending = Cutover.pending(journal());
        for (String db : config.databases()) {
            Journal.DatabaseEntry entry = journal().database(db);
            List<io.pgmigrate.TableStatus> tables = entry.copy().map(DefaultMigration::tablesOf).orElse(List.of());
            out.add(new DatabaseStatus(db, entry.phase(), Lsn.ZERO, Lsn.ZERO, -1, Duration.ZERO, tables,
                    "recorded in the state store, no server read; traffic goes to the "
                            + active.name().toLowerCase(java.util.Locale.ROOT)
                            + (pending ? "; a cutover or rollback is pending: cutover(), rollback() or recover()"
                            + " ends it" : ""), null, -1));
        }
        return new MigrationStatus(config.name(), Instant.now(), out);
    }

    @Override
    public synchronized MigrationStatus status() {
        observe();
        // Only the migration's driver repairs or records anything; another process's status() only reads.
        boolean driving = owner.held();
        List<DatabaseStatus> out = new ArrayList<>();
        // The stream that matters is the one into the side traffic does not go to.
        Side publisher = Cutover.active(journal());
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                Journal.DatabaseEntry entry = journal().database(db);
                Phase recorded = entry.phase();
                if (recorded == Phase.NOT_STARTED || recorded == Phase.COMPLETED) {
                    out.add(new DatabaseStatus(db, recorded, Lsn.ZERO, Lsn.ZERO, 0, Duration.ZERO, List.of(), ""));
                    continue;
                }
                try {
                    Optional<CopyRecord> copy = entry.copy();
                    if (copy.isPresent() && publisher == Side.SOURCE && recorded != Phase.CUTTING_OVER
                            && !link(db).enabled(sessions.target(db))) {
                        out.add(copyStatus(db, copy.get(), driving));
                        continue;
                    }
                    ReplicationLink link = link(publisher, db);
                    LinkState s = link.read(sessions.get(publisher, db), sessions.get(publisher.other(), db));
                    List<io.pgmigrate.TableStatus> tables = s.tables().stream()
                            .filter(t -> !DdlCarry.isQueue(t.schema(), t.table())).toList();
                    boolean ready = s.allTablesReady();
                    if (entry.flag(Flag.FOREIGN_KEYS_PENDING) && publisher == Side.SOURCE) {
                        // Decided on this one reading: the keys are checked once it shows every table ready, and until
                        // they are, no table counts as ready (awaitInSync() must not return before them).
                        if (driving && ready) {
                            pendingForeignKeys(db, entry);
                        }
                        if (entry.flag(Flag.FOREIGN_KEYS_PENDING)) {
                            tables = tables.stream().map(t -> t.state() != io.pgmigrate.CopyState.READY ? t
                                    : new io.pgmigrate.TableStatus(t.schema(), t.table(),
                                    io.pgmigrate.CopyState.CATCHING_UP, t.estimatedRows(), t.rowsCopied(),
                                    t.bytesCopied())).toList();
                            ready = false;
                        }
                    }
                    Phase phase;
                    String message = s.problem();
                    if (!message.isEmpty() && recorded != Phase.CUTTING_OVER) {
                        // a stream that fails may be held up by a schema change: name it, it is what to fix
                        Optional<DdlCarry.Pending> held = ddl(db).next(publisher, publisher.other());
                        if (held.isPresent()) {
                            message = message + "; the next schema change to apply on the "
                                    + sessions.connector(publisher.other()).role() + " is " + held.get().describe()
                                    + (held.get().replayable() ? "" : ", which pgmigrate cannot replay: make it there"
                                    + " yourself with Migration.applyOnFencedSide(database, sql), and the stream goes"
                                    + " on after it");
                        }
                    }
                    ReplicationLink idle = link(publisher.other(), db);
                    if (driving && idle.created() && recorded != Phase.CUTTING_OVER) {
                        String lost = idle.keepIdleSlotCurrent(sessions.get(publisher.other(), db),
                                sessions.get(publisher, db));
                        message = lost.isEmpty() ? message : message.isEmpty() ? lost : message + "; " + lost;
                    }
                    if (recorded == Phase.CUTTING_OVER) {
                        phase = recorded;
                    } else if (!s.subscriptionExists() && recorded != Phase.SCHEMA) {
                        phase = Phase.FAILED;
                        message = link.applier() + " is missing on the "
                                + sessions.connector(publisher.other()).role();
                    } else if (s.subscriptionExists() && !s.slotExists()) {
                        phase = Phase.FAILED;
                    } else if (s.subscriptionExists() && !s.publicationExists()) {
                        phase = Phase.FAILED;
                        message = link.publicationLost(sessions.connector(publisher).role());
                    } else if (s.subscriptionExists() && !s.enabled() && recorded != Phase.PAUSED) {
                        phase = Phase.FAILED;
                        message = link.applier() + " on the "
                                + sessions.connector(publisher.other()).role() + " was disabled, not by pause(): nothing"
                                + " is lost (the slot keeps every change), but nothing streams; call start() to enable it"
                                + " again";
                    } else if (!s.subscriptionExists() || (recorded == Phase.PAUSED && !s.enabled())) {
                        phase = recorded;
                    } else if (publisher == Side.TARGET) {
                        phase = Phase.CUT_OVER;
                    } else {
                        phase = ready ? Phase.STREAMING : Phase.COPYING;
                    }
                    String failing = failingApply(publisher, db, s);
                    if (!failing.isEmpty() && phase != Phase.CUTTING_OVER && phase != Phase.FAILED) {
                        phase = Phase.FAILED;
                        message = failing;
                    }
                    // Reported, but the phase stays: the stream is fine. A table that joined the stream since start()
                    // (created on both sides, then REFRESH PUBLICATION) lacks the trigger the same way.
                    String unfenced = fenceDamage(publisher.other(), db, entry, phase);
                    if (!unfenced.isEmpty()) {
                        message = message.isEmpty() ? unfenced : message + "; " + unfenced;
                    }
                    String drift = uncarriedChanges(publisher, db, entry, phase);
                    if (!drift.isEmpty()) {
                        message = message.isEmpty() ? drift : message + "; " + drift;
                    }
                    if (driving && phase != recorded && phase != Phase.FAILED) {
                        phase(db, entry, phase);
                    }
                    out.add(new DatabaseStatus(db, phase, s.sourceLsn(), s.confirmedLsn(), s.lagBytes(), s.lagTime(),
                            tables, message, applyStatus(publisher, db, link, s), s.retainedWalBytes()));
                } catch (SQLException e) {
                    sessions.forget(db);
                    throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, db, "reading the replication status failed", e);
                }
            }
        }
        return new MigrationStatus(config.name(), Instant.now(), out);
    }

    /**
     * Where schema changes are not carried (no superuser for the event triggers), the tables and columns that differ
     * between the sides once the copy is done, with what to do; empty where they are carried or nothing differs.
     */
    private String uncarriedChanges(Side publisher, String db, Journal.DatabaseEntry entry, Phase phase)
            throws SQLException {
        // once streaming (before, the schema is still being made), and only for a schema pgmigrate made: with NONE
        // the user's target may differ on purpose
        if (entry.flag(Flag.SOURCE_DDL) || config.schema().strategy() == SchemaStrategy.NONE
                || !(phase == Phase.STREAMING || phase == Phase.CUT_OVER || phase == Phase.PAUSED)) {
            return "";
        }
        // awaitInSync() polls status() several times a second: the catalogs are compared every few seconds at most
        long now = System.nanoTime();
        DriftCheck last = driftChecks.get(db);
        if (last != null && last.publisher() == publisher && now - last.nanos() < DRIFT_INTERVAL.toNanos()) {
            return last.message();
        }
        String drift = io.pgmigrate.core.internal.ddl.SchemaDrift.between(sessions.get(publisher, db),
                sessions.connector(publisher).role(), sessions.get(publisher.other(), db),
                sessions.connector(publisher.other()).role());
        String message = drift.isEmpty() ? "" : "the schemas differ, and schema changes are not carried (the"
                + " migration role is no superuser): " + drift + "; make each change on the "
                + sessions.connector(publisher.other()).role() + " too, with Migration.applyOnFencedSide(database,"
                + " sql)";
        driftChecks.put(db, new DriftCheck(now, publisher, message));
        return message;
    }

    /** The last comparison of a database's schemas, where schema changes are not carried. */
    private record DriftCheck(long nanos, Side publisher, String message) {
    }

    private static final Duration DRIFT_INTERVAL = Duration.ofSeconds(5);
    private final Map<String, DriftCheck> driftChecks = new java.util.concurrent.ConcurrentHashMap<>();

    /** The previous status's look at one stream, for rates. */
    private record ApplySample(long nanos, Lsn confirmed, long transactions) {
    }

    private final Map<String, ApplySample> applySamples = new java.util.concurrent.ConcurrentHashMap<>();

    /** How the stream applies: the link's own figures, with rates over the time since the previous status. */
    private io.pgmigrate.ApplyStatus applyStatus(Side publisher, String db, ReplicationLink link, LinkState s) {
        ReplicationLink.Applying a = link.applying(s);
        long now = System.nanoTime();
        ApplySample before = applySamples.put(publisher + "\u0000" + db, new ApplySample(now, s.confirmedLsn(),
                a.transactions()));
        double bytesPerSecond = -1;
        double transactionsPerSecond = -1;
        if (before != null && now > before.nanos()) {
            double seconds = (now - before.nanos()) / 1e9;
            bytesPerSecond = Math.max(0, s.confirmedLsn().bytesAfter(before.confirmed())) / seconds;
            if (a.transactions() >= 0 && before.transactions() >= 0 && a.transactions() >= before.transactions()) {
                transactionsPerSecond = (a.transactions() - before.transactions()) / seconds;
            }
        }
        return new io.pgmigrate.ApplyStatus(link.engine(), a.connections(), a.transactions(), transactionsPerSecond,
                bytesPerSecond, a.queued(), s.applyErrors(), s.conflicts());
    }

    /**
     * A database whose initial copy pgmigrate runs: each table's progress from the copy this process runs, or from the
     * journal when another process runs it; the lag is what the slot keeps meanwhile.
     */
    private DatabaseStatus copyStatus(String db, CopyRecord record, boolean driving) throws SQLException {
        Optional<InitialCopy.DatabaseCopy> live = liveCopy(db);
        List<io.pgmigrate.TableStatus> tables = live.isPresent() && !live.get().chunks().isEmpty()
                ? live.get().tables() : tablesOf(record);
        Phase phase = Phase.COPYING;
        String message = "";
        if (live.isPresent() && !live.get().failure().isEmpty()) {
            phase = Phase.FAILED;
            message = "the initial copy stopped: " + live.get().failure() + "; call start() to resume it";
        } else if (live.isEmpty() && driving) {
            phase = Phase.FAILED;
            message = "the initial copy does not run (the process that ran it ended); call start() to resume it";
        }
        Lsn current = Lsn.parse(Queries.string(sessions.source(db), "SELECT pg_current_wal_insert_lsn()::text"));
        Lsn from = record.consistentPoint().equals(Lsn.ZERO) ? current : record.consistentPoint();
        // the slot is at its consistent point for as long as the copy runs: everything written since is kept
        return new DatabaseStatus(db, phase, current, from, current.bytesAfter(from), Duration.ZERO, tables, message,
                null, current.bytesAfter(from));
    }

    /** Each table's progress as the journal has it: done or not, with the rows and bytes of its finished chunks. */
    private static List<io.pgmigrate.TableStatus> tablesOf(CopyRecord record) {
        Map<TableRef, long[]> sums = new java.util.LinkedHashMap<>();
        for (CopyRecord.ChunkRecord c : record.chunks()) {
            long[] s = sums.computeIfAbsent(new TableRef(c.schema(), c.table()), t -> new long[4]);
            s[0] += c.rows();
            s[1] += c.bytes();
            s[2]++;
            s[3] += c.done() ? 1 : 0;
        }
        List<io.pgmigrate.TableStatus> out = new ArrayList<>();
        sums.forEach((t, s) -> out.add(new io.pgmigrate.TableStatus(t.schema(), t.name(), s[3] == s[2]
                ? io.pgmigrate.CopyState.CATCHING_UP : s[3] > 0 ? io.pgmigrate.CopyState.COPYING
                : io.pgmigrate.CopyState.PENDING, -1, s[0], s[1])));
        return out;
    }

    /**
     * Why the side without traffic, which stays fenced while the stream runs into it, may take writes now, or empty:
     * someone dropped a part of its fence, or a table joined the stream after the fence was installed. A write there
     * would then diverge the sides silently.
     */
    private String fenceDamage(Side fenced, String db, Journal.DatabaseEntry entry, Phase phase) {
        if (phase == Phase.CUTTING_OVER || phase == Phase.SCHEMA || !entry.flag(Flag.fence(fenced))) {
            return "";
        }
        return triggerFence(fenced, db, fenced == Side.SOURCE).damage().map(why -> "the fence on the "
                + sessions.connector(fenced).role() + " is incomplete (" + why + "), so writes there are not refused and"
                + " would make the sides differ; " + (fenced == Side.TARGET ? "call start() to install it again"
                : "fence(Side.SOURCE, \"" + db + "\").engage() installs it again")).orElse("");
    }

    /**
     * What the previous {@code status()} saw of each stream: its apply error count, how far it had applied, and in how
     * many looks in a row its worker failed again without applying anything.
     */
    private record Seen(long applyErrors, Lsn confirmed, int strikes) {
    }

    private final Map<String, Seen> seen = new HashMap<>();

    /**
     * Only failures seen from now on count towards "keeps failing". A caller that just removed the cause (the row in
     * the way, the missing column) and waits for the stream must not be failed on what status() saw before: the
     * worker had not yet retried. A stream that still fails is reported again after two more failures.
     */
    private synchronized void forgetApplyFailures() {
        seen.clear();
    }

    /**
     * Why a stream's apply worker keeps failing, or empty: in two looks in a row its error count grew while it
     * applied nothing and had something to apply. One failure (a worker ended when its subscription was disabled, a
     * connection that broke) does not count, nor does a stream that applies again. After a cutover this is how a
     * schema change made on the new side only shows: the stream back stops at it, and its slot keeps the new
     * primary's WAL from then on.
     */
    private String failingApply(Side publisher, String db, LinkState s) {
        String key = publisher + "\u0000" + db;
        Seen before = seen.get(key);
        boolean stuck = before != null && s.confirmedLsn().equals(before.confirmed()) && s.lagBytes() > 0;
        boolean failedAgain = before != null && s.applyErrors() >= 0 && s.applyErrors() > before.applyErrors();
        int strikes = !stuck ? 0 : failedAgain ? before.strikes() + 1 : before.strikes();
        seen.put(key, new Seen(s.applyErrors(), s.confirmedLsn(), strikes));
        if (strikes < 2) {
            return "";
        }
        String subscriber = sessions.connector(publisher.other()).role();
        String failing = "the stream from the " + sessions.connector(publisher).role() + " fails to apply on the "
                + subscriber + " (its worker keeps failing: " + s.applyErrors() + " failures so far, applying nothing"
                + " between them) and is " + s.lagBytes() + " bytes behind, which its slot keeps on the "
                + sessions.connector(publisher).role() + " and which grows with every write there. ";
        Optional<DdlCarry.Pending> held = ddl(db).next(publisher, publisher.other());
        if (held.isPresent()) {
            return failing + "It stopped at schema change " + held.get().describe() + " (the " + subscriber
                    + "'s server log has the error): " + (held.get().replayable() ? "fix the " + subscriber
                    + " so that it applies, and the stream tries it again, or" : "pgmigrate cannot replay it, so")
                    + " make the change there yourself with Migration.applyOnFencedSide(database, sql), and the"
                    + " stream goes on after it" + (publisher == Side.TARGET
                    ? "; or give up the way back with complete()" : "");
        }
        return failing + "The " + subscriber + "'s server log names the error; most often it is a schema change made"
                + " on the side with traffic only: make it on the " + subscriber + " too with"
                + " Migration.applyOnFencedSide(database, sql)" + (publisher == Side.TARGET
                ? ", or give up the way back with complete()" : "");
    }

    @Override
    public synchronized VerificationReport verify() {
        observe(); // another process may have cut over since: the side with traffic is what the journal says now
        long started = System.nanoTime();
        List<TableVerification> results = new ArrayList<>();
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                try {
                    // both sides reachable (the source first), or the reason why not, before anything is read
                    sessions.source(db);
                    sessions.target(db);
                    for (TableRef t : verifiedTables(db)) {
                        results.add(verifyTable(db, t));
                    }
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.VERIFICATION_FAILED, db, "comparing tables failed", e);
                }
            }
        }
        return new VerificationReport(results, Duration.ofNanos(System.nanoTime() - started));
    }

    @Override
    public synchronized VerificationReport repair(VerificationReport differences) {
        own();
        long started = System.nanoTime();
        List<TableVerification> results = new ArrayList<>();
        for (TableVerification t : differences.mismatches()) {
            if (!config.databases().contains(t.database())) {
                throw new IllegalArgumentException(t.database() + " is not one of the migration's databases "
                        + config.databases());
            }
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, t.database())) {
                List<KeyRange> ranges = t.differingRanges().isEmpty() ? List.of(KeyRange.all()) : t.differingRanges();
                results.add(repairRanges(t.database(), new TableRef(t.schema(), t.table()), ranges, false));
            }
        }
        return new VerificationReport(results, Duration.ofNanos(System.nanoTime() - started));
    }

    @Override
    public synchronized VerificationReport repair(String database, String schema, String table) {
        own();
        if (!config.databases().contains(database)) {
            throw new IllegalArgumentException(database + " is not one of the migration's databases "
                    + config.databases());
        }
        long started = System.nanoTime();
        TableRef t = new TableRef(schema, table);
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, database)) {
            try {
                if (!verifiedTables(database).contains(t)) {
                    throw new IllegalArgumentException(t.quoted() + " is not a table " + database
                            + " replicates (not in its publication " + names.publication(database) + ")");
                }
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.VERIFICATION_FAILED, database,
                        "reading the replicated tables failed", e);
            }
            TableVerification done = repairRanges(database, t, null, true);
            return new VerificationReport(List.of(done), Duration.ofNanos(System.nanoTime() - started));
        }
    }

    /** The tables {@code db}'s publication replicates, pgmigrate's own excepted. */
    private List<TableRef> verifiedTables(String db) throws SQLException {
        return Queries.list(sessions.source(db), """
                SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = ?
                ORDER BY 1, 2
                """, rs -> new TableRef(rs.getString(1), rs.getString(2)), names.publication(db)).stream()
                .filter(t -> !DdlCarry.isQueue(t.schema(), t.name())) // pgmigrate's own bookkeeping
                .toList();
    }

    /** Rows per range of a table's key that verify() compares. */
    private static final long VERIFY_RANGE_ROWS = 100_000;

    /**
     * Compares {@code t} range by range of its key ({@link KeyRanges}, planned on the side with traffic), each range's
     * digest computed by both servers ({@link RangeDigest}); a table without a key in one range. A range that differs
     * is compared again at one position of both sides ({@link #atOnePosition}).
     */
    private TableVerification verifyTable(String db, TableRef t) throws SQLException {
        return compareTable(db, t, Long.MAX_VALUE, true).table();
    }

    /**
     * A table compared, perhaps in part.
     *
     * @param table    the comparison of the ranges compared
     * @param complete whether every range was compared
     */
    private record Compared(TableVerification table, boolean complete) {
    }

    /**
     * Compares {@code t} as {@link #verifyTable} does, taking no new range once {@code deadline} ({@link
     * System#nanoTime()}) has passed; with {@code recheck} false, ranges are compared once (inside the fence, where
     * neither side changes).
     */
    private Compared compareTable(String db, TableRef t, long deadline, boolean recheck) throws SQLException {
        long started = System.nanoTime();
        Side active = Cutover.active(journal());
        try (Connection a = sessions.fresh(Side.SOURCE, db); Connection b = sessions.fresh(Side.TARGET, db)) {
            sessions.applyBound(a);
            sessions.applyBound(b);
            RangeDigest.pin(a);
            RangeDigest.pin(b);
            TableShape shape = TableShape.read(active == Side.SOURCE ? a : b, t, RangeDigest.formula(a, b));
            // The side with traffic walks the key on a session of its own while the workers compare the ranges
            // found so far: the walk reads the whole index, a quarter of the time on narrow rows.
            RangeFeed feed = new RangeFeed();
            Thread walker = new Thread(Mdc.carrying(() -> {
                try (Connection c = sessions.fresh(active, db)) {
                    sessions.applyBound(c);
                    RangeDigest.pin(c);
                    budget(c, deadline);
                    feed.finish(KeyRanges.plan(c, shape, VERIFY_RANGE_ROWS, deadline, feed::add), null);
                } catch (SQLException | RuntimeException e) {
                    boolean budgetSpent = e instanceof SQLException sql && "57014".equals(sql.getSQLState())
                            && deadline != Long.MAX_VALUE;
                    feed.finish(false, budgetSpent ? null : e);
                } catch (Error e) {
                    feed.finish(false, new IllegalStateException("walking the key of " + t.quoted() + " failed", e));
                    throw e;
                }
            }), "pgmigrate-verify-ranges");
            walker.setDaemon(true);
            walker.start();
            Progress progress = new Progress(db, t, feed, started);
            RangeDigest[][] read;
            try {
                read = digestRanges(db, shape, feed, a, b, progress, deadline);
            } finally {
                feed.abandon(); // the walk stops at its next range when the comparison failed
                try {
                    walker.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            feed.rethrow();
            List<KeyRange> ranges = feed.all();
            // the walk may have found a range after the workers stopped (the budget ran out): not compared
            read = java.util.Arrays.copyOf(read, ranges.size());
            List<Integer> differ = new ArrayList<>();
            for (int i = 0; i < ranges.size(); i++) {
                if (read[i] != null && !read[i][0].equals(read[i][1])) {
                    differ.add(i);
                }
            }
            if (!differ.isEmpty() && recheck) {
                String why = rechecking(db, t);
                if (why.isEmpty()) {
                    // read while the stream may be behind: compared again exactly, at one position of both sides,
                    // a few ranges per hold of the table's writes
                    try {
                        for (int from = 0; from < differ.size(); from += RECHECK_BATCH) {
                            List<Integer> batch = differ.subList(from, Math.min(differ.size(), from + RECHECK_BATCH));
                            List<RangeDigest[]> exact = atOnePosition(db, shape,
                                    batch.stream().map(ranges::get).toList(), "compare",
                                    (src, tgt, passive, r) -> new RangeDigest[] {RangeDigest.of(src, shape, r),
                                            RangeDigest.of(tgt, shape, r)});
                            for (int k = 0; k < batch.size(); k++) {
                                read[batch.get(k)] = exact.get(k);
                            }
                        }
                    } catch (PgMigrateException e) {
                        if (e.code() != CoreErrorCode.TIMEOUT && e.code() != CoreErrorCode.REPLICATION_FAILED) {
                            throw e;
                        }
                        why = e.detail();
                    }
                }
                if (!why.isEmpty()) {
                    warn(db, t.quoted() + " differs in " + differ.size() + " ranges read while the stream may have"
                            + " been behind, and they were not compared again because " + why + "; verify() again"
                            + " once the stream runs to tell changes in flight from real differences");
                }
            }
            RangeDigest sourceTotal = RangeDigest.EMPTY;
            RangeDigest targetTotal = RangeDigest.EMPTY;
            List<KeyRange> differing = new ArrayList<>();
            int compared = 0;
            for (int i = 0; i < ranges.size(); i++) {
                if (read[i] == null) {
                    continue; // not read before the deadline
                }
                compared++;
                if (!read[i][0].equals(read[i][1])) {
                    differing.add(ranges.get(i));
                }
                sourceTotal = sourceTotal.plus(read[i][0]);
                targetTotal = targetTotal.plus(read[i][1]);
            }
            TableVerification done = new TableVerification(db, t.schema(), t.name(), sourceTotal.rows(),
                    targetTotal.rows(), sourceTotal.text(), targetTotal.text(), compared, differing,
                    Duration.ofNanos(System.nanoTime() - started));
            if (!done.matches()) {
                LOG.warn("{}: {} differs in {} of {} ranges of its key", db, t.quoted(), differing.size(), compared);
            }
            return new Compared(done, feed.complete() && compared == ranges.size());
        }
    }

    /**
     * The ranges of a table's key as the walk finds them, for workers that start before it is done: {@link #get}
     * waits for the walk.
     */
    private static final class RangeFeed {
        private final List<KeyRange> ranges = new ArrayList<>();
        private boolean done;
        private boolean complete;
        private boolean abandoned;
        private Exception failed;

        synchronized void add(KeyRange r) {
            if (abandoned) {
                throw new IllegalStateException("the comparison ended"); // stops the walk
            }
            ranges.add(r);
            notifyAll();
        }

        synchronized void finish(boolean complete, Exception failed) {
            this.done = true;
            this.complete = complete;
            this.failed = abandoned ? null : failed;
            notifyAll();
        }

        synchronized void abandon() {
            abandoned = true;
            notifyAll();
        }

        /**
         * The {@code i}-th range, once the walk found it; null when the walk ended before it, failed, or
         * {@code deadline} ({@link System#nanoTime()}) passed.
         */
        synchronized KeyRange get(int i, long deadline) throws InterruptedException {
            while (i >= ranges.size() && !done && !abandoned && failed == null) {
                long left = deadline == Long.MAX_VALUE ? 0 : (deadline - System.nanoTime()) / 1_000_000;
                if (deadline != Long.MAX_VALUE && left <= 0) {
                    return null;
                }
                wait(left);
            }
            return failed == null && i < ranges.size() ? ranges.get(i) : null;
        }

        /** Whether the walk ended with fewer than two ranges: a table that needs no helper sessions. */
        synchronized boolean single() throws InterruptedException {
            while (ranges.size() < 2 && !done) {
                wait();
            }
            return ranges.size() < 2;
        }

        synchronized List<KeyRange> all() {
            return List.copyOf(ranges);
        }

        synchronized int size() {
            return ranges.size();
        }

        synchronized boolean complete() {
            return done && complete;
        }

        synchronized void rethrow() throws SQLException {
            if (failed instanceof SQLException e) {
                throw e;
            }
            if (failed instanceof RuntimeException e) {
                throw e;
            }
        }
    }

    /** Ranges compared again, or repaired, per hold of a table's writes. */
    private static final int RECHECK_BATCH = 8;

    /**
     * Bounds the next statement on {@code c} by what is left until {@code deadline} (and by the cutover's network
     * bound inside the window); no bound for {@link Long#MAX_VALUE}.
     */
    private void budget(Connection c, long deadline) throws SQLException {
        if (deadline == Long.MAX_VALUE) {
            return;
        }
        long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
        long network = Math.max(1, config.cutover().timeout().toMillis() - 1000);
        Queries.execute(c, "SET statement_timeout = " + Math.min(left, network));
    }

    /**
     * Why ranges of {@code t} in {@code db} cannot be compared at one position of both sides now, or empty when they
     * can: the stream must run (not paused, failed, still copying, or applied by another process) and have copied
     * the table.
     */
    private String rechecking(String db, TableRef t) {
        Phase phase = journal().database(db).phase();
        if (phase != Phase.STREAMING && phase != Phase.CUT_OVER) {
            return "the migration of " + db + " is " + phase + ", not streaming";
        }
        Side active = Cutover.active(journal());
        try {
            if (stream()) {
                ReplicationLink l = link(active, db);
                if (streamWorkers.running((io.pgmigrate.core.internal.replication.stream.StreamLink) l)
                        .filter(w -> !w.stopped()).isEmpty()) {
                    return "the STREAM engine's worker does not run in this process (the process that called"
                            + " start() applies the stream)";
                }
                return "";
            }
            String subscription = active == Side.SOURCE ? names.subscription(db) : names.reverseSubscription(db);
            Connection subscriber = sessions.get(active.other(), db);
            String here = " AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())";
            if (!Queries.exists(subscriber, "SELECT 1 FROM pg_subscription s WHERE s.subname = ? AND s.subenabled"
                    + here, subscription)) {
                return "subscription " + subscription + " is disabled or missing on the "
                        + sessions.connector(active.other()).role();
            }
            Optional<String> state = Queries.first(subscriber, "SELECT sr.srsubstate::text FROM pg_subscription_rel sr"
                    + " JOIN pg_subscription s ON s.oid = sr.srsubid JOIN pg_class r ON r.oid = sr.srrelid"
                    + " JOIN pg_namespace n ON n.oid = r.relnamespace WHERE s.subname = ? AND n.nspname = ?"
                    + " AND r.relname = ?" + here, rs -> rs.getString(1), subscription, t.schema(), t.name());
            if (state.isEmpty()) {
                return t.quoted() + " is not in subscription " + subscription + " yet";
            }
            if (!state.get().equals("r")) {
                return t.quoted() + " is still being copied (table synchronisation state " + state.get() + ")";
            }
            return "";
        } catch (SQLException e) {
            return "reading the stream's state failed (" + e.getMessage() + ")";
        }
    }

    /** Tells the listeners how far the comparison (or repair) of one table has come. */
    private final class Progress {
        private final String db;
        private final TableRef t;
        private final java.util.function.IntSupplier ranges;
        private final long started;
        private final java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();

        Progress(String db, TableRef t, int ranges, long started) {
            this(db, t, () -> ranges, started);
        }

        Progress(String db, TableRef t, RangeFeed feed, long started) {
            this(db, t, feed::size, started);
        }

        private Progress(String db, TableRef t, java.util.function.IntSupplier ranges, long started) {
            this.db = db;
            this.t = t;
            this.ranges = ranges;
            this.started = started;
        }

        void rangeDone(boolean tell) {
            int n = done.incrementAndGet();
            if (!tell || config.listeners().isEmpty()) {
                return;
            }
            TableVerification sofar = new TableVerification(db, t.schema(), t.name(), -1, -1, "", "", ranges.getAsInt(),
                    List.of(), Duration.ofNanos(System.nanoTime() - started));
            tell("onVerifying", l -> l.onVerifying(sofar, n));
        }
    }

    /**
     * Both sides' digests of every range, read by as many workers as the copy has (each with a session on each side,
     * {@code a} and {@code b} being the first worker's): one range at a time per worker, so memory stays constant.
     *
     * @return per range, the source's digest and the target's
     */
    private RangeDigest[][] digestRanges(String db, TableShape t, RangeFeed feed, Connection a, Connection b,
                                         Progress progress, long deadline) throws SQLException {
        Map<Integer, RangeDigest[]> read = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        List<Exception> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        interface Work {
            void run(Connection x, Connection y) throws SQLException, InterruptedException;
        }
        Work work = (x, y) -> {
            while (failures.isEmpty() && System.nanoTime() < deadline) {
                int i = next.getAndIncrement();
                KeyRange r = feed.get(i, deadline);
                if (r == null) {
                    return;
                }
                try {
                    budget(x, deadline);
                    budget(y, deadline);
                    read.put(i, new RangeDigest[] {RangeDigest.of(x, t, r), RangeDigest.of(y, t, r)});
                } catch (SQLException e) {
                    if ("57014".equals(e.getSQLState()) && deadline != Long.MAX_VALUE) {
                        return; // the budget ran out within this range: not compared
                    }
                    throw e;
                }
                // Listeners hear only from a thread that holds the migration's monitor (verify() and repair() run
                // there): a listener that calls the migration from any other thread would wait for it forever.
                progress.rangeDone(Thread.holdsLock(DefaultMigration.this));
            }
        };
        List<Thread> threads = new ArrayList<>();
        boolean finished = false;
        try {
            // a table of one range needs no helper sessions; the others wait in the feed for the walk
            int helpers = feed.single() ? 0 : Math.max(workers, 2) - 1;
            for (int h = 0; h < helpers; h++) {
                Thread thread = new Thread(Mdc.carrying(() -> {
                    try (Connection x = sessions.fresh(Side.SOURCE, db);
                         Connection y = sessions.fresh(Side.TARGET, db)) {
                        sessions.applyBound(x);
                        sessions.applyBound(y);
                        RangeDigest.pin(x);
                        RangeDigest.pin(y);
                        work.run(x, y);
                    } catch (SQLException | RuntimeException | InterruptedException e) {
                        failures.add(e);
                    } catch (Error e) {
                        failures.add(new IllegalStateException("a verification worker failed", e));
                        throw e;
                    }
                }), "pgmigrate-verify-" + (h + 2));
                thread.setDaemon(true);
                threads.add(thread);
                thread.start();
            }
            work.run(a, b);
            for (Thread thread : threads) {
                thread.join();
            }
            finished = true;
        } catch (InterruptedException e) {
            failures.add(e); // the helpers stop after their range
            feed.abandon();
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, db, "interrupted while comparing "
                    + t.table().quoted(), e);
        } catch (SQLException | RuntimeException e) {
            failures.add(e);
        } finally {
            if (!finished) {
                // whatever ended the comparison (an Error too): the helpers and the walk stop after their statement
                failures.add(new IllegalStateException("the comparison of " + t.table().quoted() + " ended"));
                feed.abandon();
                for (Thread thread : threads) {
                    try {
                        thread.join(RECHECK_WAIT.toMillis());
                    } catch (InterruptedException again) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
        }
        if (!failures.isEmpty()) {
            Exception e = failures.get(0);
            if (e instanceof SQLException sql) {
                throw sql;
            }
            if (e instanceof InterruptedException) {
                throw new PgMigrateException(CoreErrorCode.INTERRUPTED, db, "interrupted while comparing "
                        + t.table().quoted(), e);
            }
            throw (RuntimeException) e;
        }
        int ranges = feed.size();
        RangeDigest[][] out = new RangeDigest[ranges][];
        for (int i = 0; i < ranges; i++) {
            out[i] = read.get(i);
            if (out[i] == null && deadline == Long.MAX_VALUE && feed.complete()) {
                throw new IllegalStateException("range " + feed.all().get(i) + " of " + t.table().quoted()
                        + " was not compared"); // a worker ended without saying why
            }
        }
        return out;
    }

    /**
     * Copies {@code ranges} of {@code t} (all of its key when null) again from the side with traffic to the other,
     * each at one position of both sides, and compares each range again under the same hold.
     *
     * @param whole whether the report covers the whole table (a resync) or only the ranges repaired
     */
    private TableVerification repairRanges(String db, TableRef t, List<KeyRange> ranges, boolean whole) {
        long started = System.nanoTime();
        String why = rechecking(db, t);
        if (!why.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.VERIFICATION_FAILED, db, "repairing " + t.quoted()
                    + " needs the migration's stream running in this process, and " + why + "; nothing was changed");
        }
        Side active = Cutover.active(journal());
        try {
            TableShape shape;
            List<KeyRange> todo = ranges;
            try (Connection c = sessions.fresh(active, db); Connection other = sessions.fresh(active.other(), db)) {
                RangeDigest.pin(c);
                RangeDigest.pin(other);
                shape = TableShape.read(c, t, RangeDigest.formula(c, other));
                if (todo == null) {
                    todo = KeyRanges.plan(c, shape, VERIFY_RANGE_ROWS, Long.MAX_VALUE);
                }
            }
            Progress progress = new Progress(db, t, todo.size(), started);
            RangeDigest sourceTotal = RangeDigest.EMPTY;
            RangeDigest targetTotal = RangeDigest.EMPTY;
            List<KeyRange> differing = new ArrayList<>();
            long deleted = 0;
            long copied = 0;
            for (KeyRange r : todo) {
                // one range per hold: writers to the table wait for one range's copy at a time
                Object[] done = atOnePosition(db, shape, List.of(r), "repair", (src, tgt, passive, range) -> {
                    Connection from = passive == Side.TARGET ? src : tgt;
                    Connection into = passive == Side.TARGET ? tgt : src;
                    long[] rows = RangeCopy.copy(from, into, shape, range);
                    return new Object[] {rows, RangeDigest.of(src, shape, range), RangeDigest.of(tgt, shape, range)};
                }).get(0);
                long[] rows = (long[]) done[0];
                deleted += rows[0];
                copied += rows[1];
                RangeDigest x = (RangeDigest) done[1];
                RangeDigest y = (RangeDigest) done[2];
                if (!x.equals(y)) {
                    differing.add(r);
                }
                sourceTotal = sourceTotal.plus(x);
                targetTotal = targetTotal.plus(y);
                progress.rangeDone(true);
            }
            LOG.info("{}: repaired {} of {}{} on the {}: {} rows deleted, {} copied from the {}", db,
                    todo.size() + (todo.size() == 1 ? " range" : " ranges"), t.quoted(), whole ? " (all of it)" : "",
                    sessions.connector(active.other()).role(), deleted, copied, sessions.connector(active).role());
            if (!differing.isEmpty()) {
                warn(db, t.quoted() + " still differs after its repair in " + differing.size() + " ranges: "
                        + differing);
            }
            return new TableVerification(db, t.schema(), t.name(), sourceTotal.rows(), targetTotal.rows(),
                    sourceTotal.text(), targetTotal.text(), todo.size(), differing,
                    Duration.ofNanos(System.nanoTime() - started));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.VERIFICATION_FAILED, db, "repairing " + t.quoted()
                    + " failed; what was not committed was rolled back", e);
        }
    }

    /** How long a recheck or repair waits for the table's lock, and then for the stream to pass it. */
    private static final Duration RECHECK_WAIT = Duration.ofMinutes(2);

    /**
     * How long one attempt waits for the table's lock: a writer that holds the table longer (or an autovacuum that
     * will not yield) makes the attempt give up, so writers queued behind the request go on, and the next attempt
     * comes after a pause, until {@link #RECHECK_WAIT}.
     */
    private static final Duration LOCK_ATTEMPT = Duration.ofSeconds(2);

    /**
     * How long, at most, writers to a table wait under a recheck's or repair's hold for the stream to bring their
     * earlier changes across: a stream further behind is not waited for (a recheck then reports its first reading).
     */
    private static final Duration RECHECK_LAG = Duration.ofSeconds(30);

    /** Work done on one range at one position of both sides. */
    @FunctionalInterface
    private interface AtPosition<T> {
        /**
         * @param source  the source's session, in its transaction
         * @param target  the target's session, in its transaction
         * @param passive the side without traffic, which the stream writes to
         * @param range   the range
         */
        T run(Connection source, Connection target, Side passive, KeyRange range) throws SQLException;
    }

    /**
     * Runs {@code work} on each of {@code ranges} of {@code t} at one position of both sides: writes to the table on
     * the side with traffic are held (a {@code SHARE} lock, taken in the transaction whose snapshot then reads the
     * table), a sentinel marks the position, the other side's transaction starts once the stream has applied past
     * it, and the lock is released after both transactions commit (the other side's first, so the stream's next
     * change to the table comes after whatever {@code work} wrote there). So both sides show the table as of the
     * sentinel, whatever the stream's lag before.
     *
     * @return what {@code work} returned, per range
     */
    private <T> List<T> atOnePosition(String db, TableShape t, List<KeyRange> ranges, String what, AtPosition<T> work)
            throws SQLException {
        Side active = Cutover.active(journal());
        long deadline = System.nanoTime() + RECHECK_WAIT.toNanos();
        try (Connection a = sessions.fresh(active, db); Connection b = sessions.fresh(active.other(), db)) {
            RangeDigest.pin(a);
            RangeDigest.pin(b);
            a.setAutoCommit(false);
            b.setAutoCommit(false);
            boolean done = false;
            try {
                while (true) {
                    Queries.execute(a, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
                    // the session waits for the stream inside its transaction: no server timeout may end it meanwhile
                    Queries.execute(a, "SET LOCAL idle_in_transaction_session_timeout = 0");
                    Queries.execute(a, "SET LOCAL statement_timeout = 0");
                    Queries.execute(a, "SET LOCAL lock_timeout = " + LOCK_ATTEMPT.toMillis());
                    try {
                        // before the snapshot: LOCK TABLE takes none, the next statement does
                        Queries.execute(a, "LOCK TABLE " + t.table().quoted() + " IN SHARE MODE");
                        break;
                    } catch (SQLException e) {
                        a.rollback();
                        if (!"55P03".equals(e.getSQLState()) || System.nanoTime() > deadline) {
                            if ("55P03".equals(e.getSQLState())) {
                                throw new PgMigrateException(CoreErrorCode.TIMEOUT, db, "the " + sessions.connector(
                                        active).role() + "'s writers held " + t.table().quoted() + " for "
                                        + RECHECK_WAIT.toSeconds() + " s without a moment free to hold it and " + what
                                        + " it at one position of both sides", e);
                            }
                            throw e;
                        }
                        Waits.pause(LOCK_ATTEMPT.toMillis(), db);
                    }
                }
                Queries.execute(a, "SELECT 1");
                io.pgmigrate.Sentinel sentinel = link(active, db).sentinel();
                Lsn goal = sentinel.emit();
                // writers wait for this: a stream further behind than RECHECK_LAG is not waited for
                sentinel.await(goal, Duration.ofNanos(Math.max(1, Math.min(RECHECK_LAG.toNanos(),
                        deadline - System.nanoTime()))));
                Queries.execute(b, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
                Queries.execute(b, "SET LOCAL statement_timeout = 0");
                Queries.execute(b, "SET LOCAL idle_in_transaction_session_timeout = 0");
                Queries.execute(b, "SELECT 1");
                List<T> results = new ArrayList<>();
                for (KeyRange r : ranges) {
                    results.add(active == Side.SOURCE ? work.run(a, b, Side.TARGET, r) : work.run(b, a, Side.SOURCE, r));
                }
                b.commit();
                a.commit(); // writers go on
                done = true;
                return results;
            } finally {
                if (!done) {
                    Sessions.closeQuietly(b); // rolls back; a failure here must not hide the one that brought us here
                    Sessions.closeQuietly(a);
                }
            }
        }
    }

    @Override
    public synchronized CutoverReport cutover() {
        own();
        resumeStreams();
        return told(() -> Optional.of(new Cutover(cutoverContext()).moveTo(Side.TARGET))).orElseThrow();
    }

    @Override
    public synchronized CutoverReport rollback() {
        own();
        resumeStreams();
        return told(() -> Optional.of(new Cutover(cutoverContext()).moveTo(Side.SOURCE))).orElseThrow();
    }

    @Override
    public synchronized Optional<CutoverReport> recover() {
        own();
        resumeStreams();
        return told(() -> new Cutover(cutoverContext()).recover());
    }

    /** Runs a move and tells the listeners its report, the one a {@link CutoverException} carries included. */
    private Optional<CutoverReport> told(java.util.function.Supplier<Optional<CutoverReport>> move) {
        Optional<CutoverReport> report;
        try {
            report = move.get();
        } catch (CutoverException e) {
            if (e.report() != null) {
                tell("onCutover", l -> l.onCutover(e.report()));
            }
            throw e;
        }
        report.ifPresent(r -> tell("onCutover", l -> l.onCutover(r)));
        return report;
    }

    /**
     * Waits, up to {@link #DDL_RETRY_WAIT}, until the stream into {@code fenced} has gone past {@code pending} (its
     * next attempt comes a few seconds after its last failure), so that a wait for sync right after does not see the
     * failure from before the fix. A stream that does not go on in that time is left to status() to report.
     */
    private void awaitPassed(String db, Side fenced, DdlCarry.Pending pending) {
        long deadline = System.nanoTime() + DDL_RETRY_WAIT.toNanos();
        while (!ddl(db).arrived(fenced, pending)) {
            if (System.nanoTime() > deadline) {
                warn(db, "the stream into the " + sessions.connector(fenced).role() + " has not gone past schema"
                        + " change #" + pending.id() + " within " + DDL_RETRY_WAIT.toSeconds() + " s; status() says"
                        + " why");
                return;
            }
            Waits.pause(200, db);
        }
    }

    /** How long applyOnFencedSide waits for the stream to go past the schema change it made by hand. */
    private static final Duration DDL_RETRY_WAIT = Duration.ofMinutes(1);

    /**
     * The recorded schema change the stream from {@code publisher} stopped at: one it cannot replay, or the next one
     * while the stream fails. Empty when the stream is not held up by one.
     */
    private Optional<DdlCarry.Pending> blockingDdl(String db, Side publisher) throws SQLException {
        // Only one the stream can never apply: a statement that merely has not arrived yet, or that fails for a reason
        // the caller may not have fixed, must not be marked done by an unrelated call (its HINT names the row instead).
        return ddl(db).next(publisher, publisher.other()).filter(p -> !p.replayable());
    }

    @Override
    public synchronized void applyOnFencedSide(String database, String sql) {
        String db = requireDatabase(database);
        requireNonNull(sql, "sql");
        own();
        driftChecks.remove(db); // the schemas are compared afresh at the next status()
        if (Cutover.pending(journal())) {
            throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, "migration " + config.name() + " is in the middle"
                    + " of a cutover; call cutover() or rollback() first");
        }
        Side fenced = Cutover.active(journal()).other();
        Connection c = sessions.get(fenced, db);
        try (Mdc.Scope onSide = Mdc.side(fenced)) {
            Optional<DdlCarry.Pending> blocking = blockingDdl(db, fenced.other());
            Queries.inTransaction(c, () -> {
                // The migration's sessions resolve nothing through search_path; the caller's SQL gets PostgreSQL's
                // default one, for this transaction only.
                Queries.execute(c, "SET LOCAL search_path = \"$user\", public");
                Queries.execute(c, sql);
                // the change the stream stopped at is made by hand now: the stream skips it, in the same transaction
                if (blocking.isPresent() && ddl(db).resolve(fenced, blocking.get())) {
                    LOG.info("{}: schema change {} is marked as made by hand on the {}", db,
                            blocking.get().describe(), sessions.connector(fenced).role());
                }
            });
            LOG.info("{}: applied {} characters of SQL on the {} through its fence", db, sql.length(),
                    sessions.connector(fenced).role());
            if (blocking.isPresent()) {
                awaitPassed(db, fenced, blocking.get());
            }
        } catch (SQLException e) {
            sessions.forget(db);
            throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db, "applying SQL on the "
                    + sessions.connector(fenced).role() + " failed; nothing of it was kept", e);
        }
    }

    @Override
    public Fence fence(Side side, String database) {
        return Locked.fence(this, this::own, triggerFence(requireNonNull(side, "side"), requireDatabase(database)));
    }

    @Override
    public io.pgmigrate.Sentinel sentinel(Side publisher, String database) {
        return Locked.sentinel(this, link(requireNonNull(publisher, "publisher"), requireDatabase(database))
                .sentinel());
    }

    @Override
    public SequenceSync sequenceSync(Side from, String database) {
        return Locked.sequenceSync(this, this::own, new SequenceCopy(sessions, requireNonNull(from, "from"),
                requireDatabase(database)));
    }

    @Override
    public synchronized io.pgmigrate.SchemaDiff schemaDiff(String database) {
        String db = requireDatabase(database);
        try {
            return io.pgmigrate.core.internal.schema.SchemaComparison.compare(sessions.source(db), sessions.target(db));
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.VERIFICATION_FAILED, db, "comparing the schemas failed", e);
        }
    }

    private String requireDatabase(String database) {
        if (!config.databases().contains(database)) {
            throw new IllegalArgumentException("database " + database + " is not part of migration " + config.name()
                    + "; it migrates " + config.databases());
        }
        return database;
    }

    private static <T> T requireNonNull(T value, String what) {
        if (value == null) {
            throw new IllegalArgumentException(what + " must not be null");
        }
        return value;
    }

    private Cutover.Context cutoverContext() {
        return new Cutover.Context() {
            @Override
            public MigrationConfig config() {
                return config;
            }

            @Override
            public Sessions sessions() {
                return sessions;
            }

            @Override
            public Journal journal() {
                return DefaultMigration.this.journal();
            }

            @Override
            public ReplicationLink link(Side publisher, String database) {
                return DefaultMigration.this.link(publisher, database);
            }

            @Override
            public TriggerFence fence(Side side, String database) {
                return triggerFence(side, database);
            }

            @Override
            public DdlCarry ddl(String database) {
                return DefaultMigration.this.ddl(database);
            }

            @Override
            public List<TableRef> subscribeNewTables(String database) {
                return DefaultMigration.this.subscribeNewTables(database);
            }

            @Override
            public boolean originFilter() {
                return DefaultMigration.this.originFilter();
            }

            @Override
            public void stepDone(Side to, io.pgmigrate.CutoverReport.Step step) {
                tell("onCutoverStep", l -> l.onCutoverStep(to, step));
            }

            @Override
            public void phase(String database, Phase phase) {
                DefaultMigration.this.phase(database, journal().database(database), phase);
            }

            @Override
            public void checkOwner() {
                owner.check();
            }

            @Override
            public void progress() {
                notifyProgress(status());
            }

            @Override
            public Cutover.Verified verifyInsideFence(String database, long deadline) {
                return DefaultMigration.this.verifyInsideFence(database, deadline);
            }
        };
    }

    /**
     * Inside a cutover's fence: compares every replicated table of {@code db} once per range (neither side changes),
     * taking no new range once {@code deadline} has passed.
     */
    private Cutover.Verified verifyInsideFence(String db, long deadline) {
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
            List<TableVerification> tables = new ArrayList<>();
            boolean complete = true;
            for (TableRef t : verifiedTables(db)) {
                if (System.nanoTime() > deadline) {
                    complete = false;
                    break;
                }
                Compared c = compareTable(db, t, deadline, false);
                tables.add(c.table());
                complete &= c.complete();
            }
            return new Cutover.Verified(tables, complete);
        } catch (SQLException e) {
            throw PgMigrateException.fromSql(CoreErrorCode.CUTOVER_FAILED, db, "inside the fence: comparing the tables"
                    + " failed; the cutover is abandoned", e);
        }
    }

    /** Whether both servers run PostgreSQL 16 or later, where a subscription can skip replicated changes. */
    private boolean originFilter() {
        if (originFilter == null) {
            String db = config.databases().get(0);
            try {
                originFilter = sessions.source(db).getMetaData().getDatabaseMajorVersion() >= 16
                        && sessions.target(db).getMetaData().getDatabaseMajorVersion() >= 16;
            } catch (SQLException e) {
                throw PgMigrateException.fromSql(CoreErrorCode.CONNECTION_FAILED, db, "reading the server versions failed", e);
            }
        }
        return originFilter;
    }

    @Override
    public synchronized void complete() {
        own();
        if (Cutover.pending(journal())) {
            throw new PgMigrateException(CoreErrorCode.INVALID_PHASE, "migration " + config.name() + " is in the middle of a"
                    + " cutover; call cutover() to finish it or rollback() to undo it, then complete()");
        }
        stopCopies();
        for (String db : config.databases()) {
            try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) {
                Journal.DatabaseEntry entry = journal().database(db);
                if (!link(Side.SOURCE, db).created() && !link(Side.TARGET, db).created()
                        && !entry.flag(Flag.SOURCE_FENCE) && !entry.flag(Flag.TARGET_FENCE)
                        && !entry.flag(Flag.SOURCE_DDL) && !entry.flag(Flag.TARGET_DDL)) {
                    continue; // nothing of ours on the servers
                }
                try {
                    boolean targetExists = Queries.exists(sessions.target(MAINTENANCE_DB),
                            "SELECT 1 FROM pg_database WHERE datname = ?", db);
                    Connection tgt = targetExists ? sessions.target(db) : null;
                    // The streams go before the fences: a side whose fence is lifted while a stream still applies into
                    // it would take writes that race the stream, and stay so if a drop fails. An engaged fence of another
                    // process (another key) is taken over first, so its DDL guard lets the drops through.
                    List<Side> fenced = new ArrayList<>();
                    for (Side side : Side.values()) {
                        if (entry.flag(Flag.fence(side)) && (side == Side.SOURCE || targetExists)) {
                            triggerFence(side, db).adopt();
                            fenced.add(side);
                        }
                    }
                    link(Side.TARGET, db).drop(tgt, sessions.source(db));
                    link(Side.SOURCE, db).drop(sessions.source(db), tgt);
                    ddl(db).remove(Side.SOURCE);
                    if (targetExists) {
                        ddl(db).remove(Side.TARGET);
                    }
                    for (Side side : fenced) {
                        TriggerFence f = triggerFence(side, db);
                        f.disengage();
                        if (!f.remove()) {
                            throw new PgMigrateException(CoreErrorCode.REPLICATION_FAILED, db, "the fence on the "
                                    + sessions.connector(side).role() + " could not be removed because its tables stay"
                                    + " locked; complete() can be called again");
                        }
                    }
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.REPLICATION_FAILED, db,
                            "removing the replication objects failed; complete() can be called again", e);
                }
                phase(db, entry, Phase.COMPLETED);
            }
        }
        journal().delete();
        synchronized (journalLock) {
            journal = null;
        }
        LOG.info("migration {} completed: every replication object it created is removed", config.name());
    }

    @Override
    public synchronized void close() {
        stopCopies();
        streamWorkers.close(); // the journal keeps them enabled: the next driver's start() runs them again
        sessions.close();
        owner.close();
    }

    /** Stops every copy this object runs; a chunk being copied is rolled back, and the snapshots end. */
    private void stopCopies() {
        copies.forEach(InitialCopy::close);
    }

    private void phase(String db, Journal.DatabaseEntry entry, Phase phase) {
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) { // the listeners' own lines too
            if (entry.phase() == phase) {
                return;
            }
            entry.phase(phase);
            LOG.info("{}: phase {}", db, phase);
            tell("onPhase", l -> l.onPhase(db, phase));
        }
    }

    private void warn(String db, String message) {
        try (Mdc.Scope inDatabase = Mdc.put(Mdc.DATABASE, db)) { // the listeners' own lines too
            LOG.warn("{}: {}", db, message);
            tell("onWarning", l -> l.onWarning(db, message));
        }
    }

    @Override
    public String toString() {
        return "Migration[" + config + "]";
    }
}
