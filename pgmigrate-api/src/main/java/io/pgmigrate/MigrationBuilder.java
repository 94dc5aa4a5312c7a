package io.pgmigrate;

import io.pgmigrate.spi.MigrationProvider;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Collects a migration's configuration. Each setter checks its value at once ({@link NullPointerException} naming the
 * setting for a null argument, {@link IllegalArgumentException} for a bad value, {@link IllegalStateException} for a
 * value set twice); {@link #build()} checks the whole and returns an immutable {@link Migration}. Nothing here opens a
 * connection.
 *
 * @since 0.1.0
 */
public final class MigrationBuilder {

    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9_]{0,23}");
    private static final int MAX_IDENTIFIER_BYTES = 63;

    private String name;
    private Endpoint source;
    private Endpoint target;
    private Endpoint sourceAsSeenByTarget;
    private List<String> databases;
    private Engine engine;
    private TrafficSwitch trafficSwitch;
    private final List<MigrationListener> listeners = new ArrayList<>();
    private StateStore stateStore;
    private Duration progressInterval;
    private Duration connectTimeout;
    private Integer connectAttempts;
    private Endpoint targetAsSeenBySource;
    private Duration cutoverTimeout;
    private Long cutoverMaxLagBytes;
    private Duration cutoverCatchUpTimeout;
    private Duration fenceDrainTimeout;
    private Long sequenceMargin;
    private Duration verifyBudget;
    private Boolean refreshMaterializedViews;
    private Duration sequenceRateHorizon;
    private Set<LeftBehind> acceptedLeftBehind;
    private SchemaStrategy schemaStrategy;
    private Path pgDump;
    private Boolean ownershipAndGrants;
    private SchemaChanges schemaChanges;
    private Integer copyWorkers;
    private Long copyRateLimit;
    private Long copyPartSize;

    MigrationBuilder() {
    }

    /**
     * The migration's name: the prefix of every object it creates on the servers ({@code pgmigrate_<name>_...}) and
     * the key of its state. Lower-case letters, digits and underscores, starting with a letter, at most 24. Default
     * {@code migration}.
     *
     * @param name the name
     * @return this builder
     * @throws IllegalArgumentException when {@code name} does not match {@code [a-z][a-z0-9_]{0,23}}
     */
    public MigrationBuilder name(String name) {
        checkUnset(this.name, "name");
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("name must match [a-z][a-z0-9_]{0,23} (it prefixes server object names), was: "
                    + quoteForMessage(name));
        }
        this.name = name;
        return this;
    }

    /**
     * The server to migrate from. Its URL's database is the default database list.
     *
     * @param source the source server
     * @return this builder
     */
    public MigrationBuilder source(Endpoint source) {
        checkUnset(this.source, "source");
        this.source = requireNonNull(source, "source");
        return this;
    }

    /**
     * The server to migrate from, as a pgjdbc URL.
     *
     * @param jdbcUrl the source's URL, as {@link Endpoint#of(String)} parses it
     * @return this builder
     * @throws IllegalArgumentException when {@link Endpoint#of(String)} rejects the URL
     */
    public MigrationBuilder source(String jdbcUrl) {
        return source(Endpoint.of(jdbcUrl));
    }

    /**
     * The server to migrate to.
     *
     * @param target the target server; not the source's server
     * @return this builder
     */
    public MigrationBuilder target(Endpoint target) {
        checkUnset(this.target, "target");
        this.target = requireNonNull(target, "target");
        return this;
    }

    /**
     * The server to migrate to, as a pgjdbc URL.
     *
     * @param jdbcUrl the target's URL, as {@link Endpoint#of(String)} parses it
     * @return this builder
     * @throws IllegalArgumentException when {@link Endpoint#of(String)} rejects the URL
     */
    public MigrationBuilder target(String jdbcUrl) {
        return target(Endpoint.of(jdbcUrl));
    }

    /**
     * How the target server itself reaches the source, when that differs from how this JVM reaches it (NATIVE engine:
     * the target's subscription connects to it). Default: the source endpoint.
     *
     * @param endpoint the source as the target server reaches it
     * @return this builder
     */
    public MigrationBuilder sourceAsSeenByTarget(Endpoint endpoint) {
        checkUnset(this.sourceAsSeenByTarget, "sourceAsSeenByTarget");
        this.sourceAsSeenByTarget = requireNonNull(endpoint, "sourceAsSeenByTarget");
        return this;
    }

    /**
     * How the source server itself reaches the target, for the reverse stream that cutover starts (the source
     * subscribes to the target). Default: the target endpoint.
     *
     * @param endpoint the target as the source server reaches it
     * @return this builder
     */
    public MigrationBuilder targetAsSeenBySource(Endpoint endpoint) {
        checkUnset(this.targetAsSeenBySource, "targetAsSeenBySource");
        this.targetAsSeenBySource = requireNonNull(endpoint, "targetAsSeenBySource");
        return this;
    }

    /**
     * How long a cutover waits for the new side to apply the sentinel before it gives up, lifts the fence and leaves
     * traffic where it was. Default 30 s.
     *
     * @param timeout the bound on the sentinel wait, positive
     * @return this builder
     * @throws IllegalArgumentException when {@code timeout} is zero or negative
     */
    public MigrationBuilder cutoverTimeout(Duration timeout) {
        checkUnset(this.cutoverTimeout, "cutoverTimeout");
        this.cutoverTimeout = requirePositive(timeout, "cutoverTimeout");
        return this;
    }

    /**
     * The cutover fences nothing while a stream is more than this many WAL bytes behind, so the write-unavailable
     * window stays short: it first waits up to {@link #cutoverCatchUpTimeout(Duration)} for the stream to catch up.
     * Default 16 MiB.
     *
     * @param bytes the largest lag, in WAL bytes, at which the cutover fences; zero or more
     * @return this builder
     * @throws IllegalArgumentException when {@code bytes} is negative
     */
    public MigrationBuilder cutoverMaxLagBytes(long bytes) {
        checkUnset(this.cutoverMaxLagBytes, "cutoverMaxLagBytes");
        if (bytes < 0) {
            throw new IllegalArgumentException("cutoverMaxLagBytes must be zero or more, was " + bytes);
        }
        this.cutoverMaxLagBytes = bytes;
        return this;
    }

    /**
     * How long a cutover (or rollback) waits, before it touches anything, for every stream to come within
     * {@link #cutoverMaxLagBytes(long)} of its source, reporting progress to the listeners meanwhile. When the lag
     * does not come down in this time the cutover is refused, naming the source's WAL rate and the stream's apply
     * rate over the wait. The wait is outside the write-unavailable window. Default 5 minutes.
     *
     * @param timeout the bound on the catch-up wait, positive
     * @return this builder
     * @throws IllegalArgumentException when {@code timeout} is zero or negative
     */
    public MigrationBuilder cutoverCatchUpTimeout(Duration timeout) {
        checkUnset(this.cutoverCatchUpTimeout, "cutoverCatchUpTimeout");
        this.cutoverCatchUpTimeout = requirePositive(timeout, "cutoverCatchUpTimeout");
        return this;
    }

    /**
     * How long transactions that began before the fence may go on before they are terminated; zero terminates them
     * at once. Their clients see an error and no commit, so nothing they wrote is lost. Default 500 ms.
     *
     * @param timeout how long they may go on, zero or positive
     * @return this builder
     * @throws IllegalArgumentException when {@code timeout} is negative
     */
    public MigrationBuilder fenceDrainTimeout(Duration timeout) {
        checkUnset(this.fenceDrainTimeout, "fenceDrainTimeout");
        Objects.requireNonNull(timeout, "fenceDrainTimeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("fenceDrainTimeout must be zero or a positive duration, was " + timeout);
        }
        this.fenceDrainTimeout = timeout;
        return this;
    }

    /**
     * Increments every sequence's next value on the new side is set past the old side's at cutover. The fence stops
     * writes, not {@code nextval()}: a session left on the old side, or one holding cached values ({@code CACHE}),
     * can still take values there, and an application that fetches ids apart from its inserts (Hibernate's pooled
     * optimizers, invoice numbers) would then reuse them on the new side. The margin bounds how many such values may
     * be taken without a collision. Default 1000; 0 makes the new side continue exactly after the old side's next
     * value.
     *
     * @param increments the margin, zero or more
     * @return this builder
     * @throws IllegalArgumentException when {@code increments} is negative
     */
    public MigrationBuilder sequenceMargin(long increments) {
        checkUnset(this.sequenceMargin, "sequenceMargin");
        if (increments < 0) {
            throw new IllegalArgumentException("sequenceMargin must be zero or more, was " + increments);
        }
        this.sequenceMargin = increments;
        return this;
    }

    /**
     * Moves each sequence further on the new side by the values it hands out over {@code horizon} at the rate the
     * cutover observes, on top of {@link #sequenceMargin(long)}: the rate is measured between the cutover's pre-check
     * and the fence (the busier a sequence, the further it moves). For values the old side may still hand out after
     * the fence (sessions left there, {@code CACHE}d values) when a fixed margin does not fit every sequence. Off by
     * default.
     *
     * @param horizon how many seconds' worth of values to skip, more than zero
     * @return this builder
     * @throws IllegalArgumentException when {@code horizon} is zero or negative
     */
    public MigrationBuilder sequenceMarginByRate(Duration horizon) {
        checkUnset(this.sequenceRateHorizon, "sequenceMarginByRate");
        Objects.requireNonNull(horizon, "sequenceMarginByRate");
        if (horizon.isZero() || horizon.isNegative()) {
            throw new IllegalArgumentException("sequenceMarginByRate needs a horizon of more than zero, was " + horizon);
        }
        this.sequenceRateHorizon = horizon;
        return this;
    }

    /**
     * Makes every cutover (and rollback) prove the data equal before it switches: inside the fence, once the new side
     * has applied the sentinel (neither side changes then), every replicated table is compared range by range as
     * {@link Migration#verify()} compares it, for up to {@code budget}. A range that differs abandons the move (the
     * fences are lifted, traffic stays; {@link Migration#repair(VerificationReport)} then fixes it). The budget bounds
     * how much longer writes wait: ranges it does not reach are not compared, and the report's step says how many
     * were. Off by default.
     *
     * @param budget how long the comparison may take, more than zero
     * @return this builder
     * @throws IllegalArgumentException when {@code budget} is zero or negative
     */
    public MigrationBuilder verifyBeforeSwitch(Duration budget) {
        checkUnset(this.verifyBudget, "verifyBeforeSwitch");
        Objects.requireNonNull(budget, "verifyBeforeSwitch");
        if (budget.isZero() || budget.isNegative()) {
            throw new IllegalArgumentException("verifyBeforeSwitch needs a budget of more than zero, was " + budget);
        }
        this.verifyBudget = budget;
        return this;
    }

    /**
     * Whether a cutover refreshes materialized views on the new side: the schema copy creates them empty ({@code WITH
     * NO DATA}) and no stream fills them, so a query of one there fails until it is refreshed. On by default: before
     * the fence, each view the old side has populated is refreshed on the new side (in creation order, so views built
     * on views come after them), as current as the data the stream has brought by then. Off leaves them to the
     * application.
     *
     * @param refresh whether to refresh them
     * @return this builder
     */
    public MigrationBuilder refreshMaterializedViews(boolean refresh) {
        checkUnset(this.refreshMaterializedViews, "refreshMaterializedViews");
        this.refreshMaterializedViews = refresh;
        return this;
    }

    /**
     * Kinds of data a cutover may leave on the old side without refusing: by default none, so a cutover (or rollback)
     * refuses, before it fences anything, while the old side holds unlogged rows, rows of inheritance hierarchies,
     * large objects or extension configuration rows, and names them. Accept a kind when it is moved some other way
     * (for example large objects with {@code pg_dump --large-objects} after the cutover) or not needed.
     *
     * @param kinds the kinds to accept; none accepts none, as the default does
     * @return this builder
     * @throws NullPointerException if {@code kinds} or one of its elements is null
     */
    public MigrationBuilder acceptLeftBehind(LeftBehind... kinds) {
        checkUnset(this.acceptedLeftBehind, "acceptLeftBehind");
        Set<LeftBehind> set = EnumSet.noneOf(LeftBehind.class);
        for (LeftBehind k : Objects.requireNonNull(kinds, "acceptLeftBehind")) {
            set.add(Objects.requireNonNull(k, "acceptLeftBehind: null kind"));
        }
        this.acceptedLeftBehind = set;
        return this;
    }

    /**
     * How {@code start()} creates each database's schema on the target. Default {@link SchemaStrategy#CATALOG}: read
     * from the source's catalog, no external program needed.
     *
     * @param strategy the strategy
     * @return this builder
     */
    public MigrationBuilder schemaStrategy(SchemaStrategy strategy) {
        checkUnset(this.schemaStrategy, "schemaStrategy");
        this.schemaStrategy = requireNonNull(strategy, "schemaStrategy");
        return this;
    }

    /**
     * The pg_dump executable {@link SchemaStrategy#PG_DUMP} runs; it must be at least as new as the source server.
     * Default: the newest suitable one on the {@code PATH} or in the usual installation directories.
     * {@link #build()} refuses it with any other strategy.
     *
     * @param executable the path of the pg_dump program
     * @return this builder
     */
    public MigrationBuilder pgDump(Path executable) {
        checkUnset(this.pgDump, "pgDump");
        this.pgDump = requireNonNull(executable, "pgDump");
        return this;
    }

    /**
     * Whether the schema copy (CATALOG or PG_DUMP) also gives every object its source owner and copies its grants.
     * The roles are server-wide and not copied: preflight reports each one the target lacks. Default {@code false}:
     * the target's objects belong to the migration's role. {@link #build()} refuses {@code true} with
     * {@link SchemaStrategy#NONE}.
     *
     * @param copy whether to set owners and copy grants
     * @return this builder
     */
    public MigrationBuilder ownershipAndGrants(boolean copy) {
        checkUnset(this.ownershipAndGrants, "ownershipAndGrants");
        this.ownershipAndGrants = copy;
        return this;
    }

    /**
     * What happens to schema changes (DDL) the application makes while the migration runs. Default
     * {@link SchemaChanges#CARRY}: each is replayed on the other side in order with the data (docs/ddl.md);
     * {@link SchemaChanges#FREEZE} refuses them on both sides until {@code complete()}. Both need the migration role
     * to be a superuser on both servers.
     *
     * @param changes carry or freeze
     * @return this builder
     */
    public MigrationBuilder schemaChanges(SchemaChanges changes) {
        checkUnset(this.schemaChanges, "schemaChanges");
        this.schemaChanges = requireNonNull(changes, "schemaChanges");
        return this;
    }

    /**
     * The databases to migrate. Default: the database in the source URL.
     *
     * @param databases the databases' names, at least one, each once
     * @return this builder
     * @throws IllegalArgumentException when {@code databases} is empty, names a database twice, or holds a name that
     *                                  is empty, contains a NUL character or is longer than 63 bytes in UTF-8
     */
    public MigrationBuilder databases(String... databases) {
        return databases(Arrays.asList(Objects.requireNonNull(databases, "databases")));
    }

    /**
     * The databases to migrate, in the collection's iteration order. Default: the database in the source URL.
     *
     * @param databases the databases' names, at least one, each once
     * @return this builder
     * @throws IllegalArgumentException when {@code databases} is empty, names a database twice, or holds a name that
     *                                  is empty, contains a NUL character or is longer than 63 bytes in UTF-8
     */
    public MigrationBuilder databases(Collection<String> databases) {
        checkUnset(this.databases, "databases");
        Objects.requireNonNull(databases, "databases");
        if (databases.isEmpty()) {
            throw new IllegalArgumentException("databases must name at least one database");
        }
        Set<String> seen = new LinkedHashSet<>();
        for (String db : databases) {
            checkDatabaseName(db);
            if (!seen.add(db)) {
                throw new IllegalArgumentException("databases names " + quoteForMessage(db)
                        + " twice; list each database once");
            }
        }
        this.databases = List.copyOf(seen);
        return this;
    }

    /**
     * How changes travel. Default {@link Engine#NATIVE}; {@link Engine#STREAM} when the target cannot reach the
     * source, must not hold the source's credentials, or needs changes applied on several connections.
     *
     * @param engine the engine
     * @return this builder
     */
    public MigrationBuilder engine(Engine engine) {
        checkUnset(this.engine, "engine");
        this.engine = requireNonNull(engine, "engine");
        return this;
    }

    /**
     * What points traffic at the new side during cutover. Default {@link TrafficSwitch#none()}.
     *
     * @param trafficSwitch the switch
     * @return this builder
     */
    public MigrationBuilder trafficSwitch(TrafficSwitch trafficSwitch) {
        checkUnset(this.trafficSwitch, "trafficSwitch");
        this.trafficSwitch = requireNonNull(trafficSwitch, "trafficSwitch");
        return this;
    }

    /**
     * Adds a listener for phase and progress events; may be called more than once.
     *
     * @param listener the listener; listeners are called in the order they were added
     * @return this builder
     */
    public MigrationBuilder listener(MigrationListener listener) {
        listeners.add(requireNonNull(listener, "listener"));
        return this;
    }

    /**
     * Where the journal is kept. Default: the directory {@code ~/.pgmigrate/state}.
     *
     * @param stateStore the store
     * @return this builder
     */
    public MigrationBuilder stateStore(StateStore stateStore) {
        checkUnset(this.stateStore, "stateStore");
        this.stateStore = requireNonNull(stateStore, "stateStore");
        return this;
    }

    /**
     * Keeps the journal as a JSON file in {@code directory}: sets the state store to
     * {@link StateStore#directory(Path)}, so it cannot be combined with {@link #stateStore(StateStore)}.
     *
     * @param directory the directory; created when missing
     * @return this builder
     */
    public MigrationBuilder stateDirectory(Path directory) {
        return stateStore(StateStore.directory(requireNonNull(directory, "stateDirectory")));
    }

    /**
     * How often listeners receive a status while pgmigrate waits. Default 1 s.
     *
     * @param interval the interval, positive
     * @return this builder
     * @throws IllegalArgumentException when {@code interval} is zero or negative
     */
    public MigrationBuilder progressInterval(Duration interval) {
        checkUnset(this.progressInterval, "progressInterval");
        this.progressInterval = requirePositive(interval, "progressInterval");
        return this;
    }

    /**
     * Bound on opening one connection. Default 10 s.
     *
     * @param timeout the bound, positive
     * @return this builder
     * @throws IllegalArgumentException when {@code timeout} is zero or negative
     */
    public MigrationBuilder connectTimeout(Duration timeout) {
        checkUnset(this.connectTimeout, "connectTimeout");
        this.connectTimeout = requirePositive(timeout, "connectTimeout");
        return this;
    }

    /**
     * Attempts for a connection that fails transiently (server starting, too many connections). Default 5.
     *
     * @param attempts the number of attempts, the first included; 1 to 100
     * @return this builder
     * @throws IllegalArgumentException when {@code attempts} is outside 1 to 100
     */
    public MigrationBuilder connectAttempts(int attempts) {
        checkUnset(this.connectAttempts, "connectAttempts");
        if (attempts < 1 || attempts > 100) {
            throw new IllegalArgumentException("connectAttempts must be between 1 and 100, was " + attempts);
        }
        this.connectAttempts = attempts;
        return this;
    }

    /**
     * How many tables, or parts of a large table, the initial copy moves at once, over all databases of the
     * migration. Each worker holds one connection to the source and one to the target while it copies. Default: sized
     * to the servers, at most 4 and never more than either server has connections to spare (docs/copy.md).
     *
     * @param workers at least 1
     * @return this builder
     * @since 0.2.0
     */
    public MigrationBuilder copyWorkers(int workers) {
        checkUnset(this.copyWorkers, "copyWorkers");
        if (workers < 1) {
            throw new IllegalArgumentException("copyWorkers must be at least 1, was " + workers);
        }
        this.copyWorkers = workers;
        return this;
    }

    /**
     * The most the initial copy reads from the source per second, over all its workers, for a source that must keep
     * serving its application undisturbed. Default: no limit.
     *
     * @param bytesPerSecond at least 65536
     * @return this builder
     * @since 0.2.0
     */
    public MigrationBuilder copyRateLimit(long bytesPerSecond) {
        checkUnset(this.copyRateLimit, "copyRateLimit");
        if (bytesPerSecond < 65536) {
            throw new IllegalArgumentException("copyRateLimit must be at least 65536 bytes per second, was "
                    + bytesPerSecond);
        }
        this.copyRateLimit = bytesPerSecond;
        return this;
    }

    /**
     * The size of the parts a large table is copied in: a table larger than one and a half parts is split into
     * ranges of pages (PostgreSQL 14 and later) or of its integer key, which several workers copy at once. Default
     * 128 MiB.
     *
     * @param bytes at least 1 MiB
     * @return this builder
     * @since 0.2.0
     */
    public MigrationBuilder copyPartSize(long bytes) {
        checkUnset(this.copyPartSize, "copyPartSize");
        if (bytes < (1L << 20)) {
            throw new IllegalArgumentException("copyPartSize must be at least 1 MiB (1048576 bytes), was " + bytes);
        }
        this.copyPartSize = bytes;
        return this;
    }

    /**
     * Checks the configuration as a whole and creates the migration. Opens no connection.
     *
     * @return the migration, not yet started
     * @throws IllegalStateException naming the property when something required is missing or settings conflict
     * @throws PgMigrateException    with {@link CoreErrorCode#IMPLEMENTATION_MISSING} when pgmigrate-core is not on the
     *                               class path
     */
    public Migration build() {
        if (source == null) {
            throw new IllegalStateException("source is required: call source(Endpoint.of(\"jdbc:postgresql://host:5432/db\"))");
        }
        if (target == null) {
            throw new IllegalStateException("target is required: call target(Endpoint.of(\"jdbc:postgresql://host:5432/\"))");
        }
        if (source.sameServerAs(target)) {
            throw new IllegalStateException("source and target are the same server (" + source.host() + ":" + source.port()
                    + "); a migration needs two different servers");
        }
        List<String> dbs = databases;
        if (dbs == null) {
            String db = source.database().orElseThrow(() -> new IllegalStateException(
                    "databases is not set and the source URL names no database (" + source
                            + "); call databases(\"app\", ...) or put the database in the source URL"));
            checkDatabaseName(db);
            dbs = List.of(db);
        }
        Engine e = engine == null ? Engine.NATIVE : engine;
        SchemaStrategy strategy = schemaStrategy == null ? SchemaStrategy.CATALOG : schemaStrategy;
        if (pgDump != null && strategy != SchemaStrategy.PG_DUMP) {
            throw new IllegalStateException("pgDump is set but schemaStrategy is " + strategy
                    + "; call schemaStrategy(SchemaStrategy.PG_DUMP) or leave pgDump out");
        }
        if (Boolean.TRUE.equals(ownershipAndGrants) && strategy == SchemaStrategy.NONE) {
            throw new IllegalStateException("ownershipAndGrants is set but schemaStrategy is NONE, so pgmigrate creates"
                    + " no schema to give owners and grants to; leave one of them out");
        }
        MigrationConfig config = new MigrationConfig(
                name == null ? "migration" : name,
                source,
                target,
                sourceAsSeenByTarget == null ? source : sourceAsSeenByTarget,
                dbs,
                e,
                trafficSwitch == null ? TrafficSwitch.none() : trafficSwitch,
                listeners,
                stateStore == null ? StateStore.directory(Path.of(System.getProperty("user.home"), ".pgmigrate", "state"))
                        : stateStore,
                progressInterval == null ? Duration.ofSeconds(1) : progressInterval,
                connectTimeout == null ? Duration.ofSeconds(10) : connectTimeout,
                connectAttempts == null ? 5 : connectAttempts,
                targetAsSeenBySource == null ? target : targetAsSeenBySource,
                new MigrationConfig.CutoverSettings(
                        cutoverTimeout == null ? Duration.ofSeconds(30) : cutoverTimeout,
                        cutoverMaxLagBytes == null ? 16L << 20 : cutoverMaxLagBytes,
                        fenceDrainTimeout == null ? Duration.ofMillis(500) : fenceDrainTimeout,
                        sequenceMargin == null ? 1000 : sequenceMargin,
                        cutoverCatchUpTimeout == null ? Duration.ofMinutes(5) : cutoverCatchUpTimeout,
                        acceptedLeftBehind == null ? Set.of() : acceptedLeftBehind,
                        verifyBudget == null ? Duration.ZERO : verifyBudget,
                        refreshMaterializedViews == null || refreshMaterializedViews,
                        sequenceRateHorizon == null ? Duration.ZERO : sequenceRateHorizon),
                new MigrationConfig.SchemaSettings(strategy, java.util.Optional.ofNullable(pgDump),
                        Boolean.TRUE.equals(ownershipAndGrants),
                        schemaChanges == null ? SchemaChanges.CARRY : schemaChanges),
                new MigrationConfig.CopySettings(copyWorkers == null ? 0 : copyWorkers,
                        copyRateLimit == null ? 0 : copyRateLimit, copyPartSize == null ? 128L << 20 : copyPartSize));
        return provider().create(config);
    }

    /** The implementation found on the class path; pgmigrate-core registers it. */
    static MigrationProvider provider() {
        Iterator<MigrationProvider> it = ServiceLoader.load(MigrationProvider.class,
                MigrationBuilder.class.getClassLoader()).iterator();
        if (!it.hasNext()) {
            throw new PgMigrateException(CoreErrorCode.IMPLEMENTATION_MISSING,
                    "no pgmigrate implementation on the class path: add the dependency io.pgmigrate:pgmigrate-core");
        }
        return it.next();
    }

    private static void checkDatabaseName(String db) {
        Objects.requireNonNull(db, "databases contains a null name");
        if (db.isEmpty()) {
            throw new IllegalArgumentException("databases contains an empty name");
        }
        if (db.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("database name " + quoteForMessage(db) + " contains a NUL character");
        }
        int bytes = db.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_IDENTIFIER_BYTES) {
            throw new IllegalArgumentException("database name " + quoteForMessage(db) + " is " + bytes
                    + " bytes; PostgreSQL names are at most " + MAX_IDENTIFIER_BYTES + " bytes");
        }
    }

    /**
     * Sets what {@code settings} say, each key the name of one of this builder's methods and its value that method's
     * argument as text, as in a properties file (HikariCP's rule):
     *
     * <pre>
     * name=shop_to_pg18
     * databases=shop, crm
     * source=jdbc:postgresql://10.0.0.11:5432/
     * source.user=pgmigrate
     * source.passfile=/etc/pgmigrate/pgpass
     * source.property.sslmode=verify-full
     * target=jdbc:postgresql://10.0.0.21:5432/
     * target.user=pgmigrate
     * target.password=${env:PGMIGRATE_TARGET_PASSWORD}
     * stateDirectory=/var/lib/pgmigrate
     * engine=STREAM
     * cutoverTimeout=30s
     * copyPartSize=128MiB
     * acceptLeftBehind=UNLOGGED_TABLES
     * </pre>
     *
     * <p>Endpoints ({@code source}, {@code target}, {@code sourceAsSeenByTarget}, {@code targetAsSeenBySource}) take a
     * JDBC URL, and {@code .user}, {@code .password}, {@code .passfile}, {@code .database} and
     * {@code .property.<name>} sub-keys. Values: durations as {@code 30s}, {@code 500ms}, {@code 5m}, {@code 1h} or
     * ISO-8601; numbers optionally with {@code kB}, {@code MB}, {@code GB} or {@code KiB}, {@code MiB}, {@code GiB};
     * enum constants in any case; lists separated by commas. {@code ${env:NAME}} is replaced by the environment
     * variable, so a file needs no password. Settings that take an object ({@code trafficSwitch}, {@code listener},
     * {@code stateStore}) are set in code.
     *
     * @param settings the settings, by method name
     * @return this builder
     * @throws IllegalArgumentException naming the key, when a key is no setting or a value does not fit it
     * @since 0.2.0
     */
    public MigrationBuilder configure(Map<String, String> settings) {
        Objects.requireNonNull(settings, "configure");
        BuilderProperties.apply(this, settings, System.getenv());
        return this;
    }

    /**
     * {@link #configure(Map)} with the settings of a properties file.
     *
     * @param properties the settings, by method name
     * @return this builder
     * @throws IllegalArgumentException naming the key, when a key is no setting or a value does not fit it
     * @since 0.2.0
     */
    public MigrationBuilder configure(java.util.Properties properties) {
        Objects.requireNonNull(properties, "configure");
        Map<String, String> settings = new java.util.LinkedHashMap<>();
        for (String key : properties.stringPropertyNames()) {
            settings.put(key, properties.getProperty(key));
        }
        return configure(settings);
    }

    private static void checkUnset(Object current, String property) {
        if (current != null) {
            throw new IllegalStateException(property + " was already set to " + current);
        }
    }

    /** Null arguments throw {@link NullPointerException} naming the setting, as the JDK's own methods do. */
    private static <T> T requireNonNull(T value, String property) {
        return Objects.requireNonNull(value, property);
    }

    private static Duration requirePositive(Duration d, String property) {
        Objects.requireNonNull(d, property);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(property + " must be a positive duration, was " + d);
        }
        return d;
    }

    private static String quoteForMessage(String s) {
        return s == null ? "null" : "'" + s + "'";
    }
}
