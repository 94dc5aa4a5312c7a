package io.pgmigrate.bench;

import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.CutoverReport.Step;
import io.pgmigrate.Migration;
import io.pgmigrate.Side;
import io.pgmigrate.testkit.TcpProxy;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.ToLongFunction;

/**
 * The write-unavailable window of a cutover under continuous load, PostgreSQL 14 to 18, for one database and for ten:
 * pgmigrate's {@code cutover()} against a careful scripted cutover over plain native logical replication (read-only
 * database, terminate the application's sessions, poll the slot every 100 ms, copy sequences, switch the proxy), side
 * by side in one run. Writers commit through a loopback proxy as an application role and report their own view: the
 * longest gap between successful commits, failed attempts, and confirmed commits missing on the new side afterwards
 * (must be 0; the benchmark exits non-zero otherwise).
 *
 * <p>Arguments: {@code --runs N} (per configuration and path, default 5), {@code --source M}, {@code --target M}
 * (majors, default 14 and 18), {@code --databases 1,10} (the configurations: two writers for one database, one writer
 * per database otherwise; targets 1000 ms and 2000 ms), {@code --rate N} (commits per second per database, shared by
 * its writers; default 500; 0 commits back to back, which on a small machine can outrun the replication stream).
 */
public final class CutoverBenchmark {

    private static final String APP_ROLE = "bench_app";
    private static final String APP_PASSWORD = "bench-secret";
    private static final int HISTORY_ROWS = 1000;
    /**
     * Commits per second per database. Back to back, ten databases on two cores outrun the ten walsenders (each
     * decodes the whole WAL) and apply workers, and the window then measures the backlog rather than the cutover.
     */
    private static final int DEFAULT_RATE = 500;
    private static final Duration SYNC_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration WARM_UP = Duration.ofSeconds(1);
    /** Per database, after the warm-up and again after the cutover, so both sides are seen taking writes. */
    private static final long COMMITS_AROUND = 100;
    private static final Duration PROGRESS_TIMEOUT = Duration.ofSeconds(60);
    /** How often the reference script polls the slot: what a shell loop around psql does. */
    private static final long REFERENCE_POLL_MILLIS = 100;
    private static final Duration REFERENCE_CATCH_UP_TIMEOUT = Duration.ofSeconds(60);

    private CutoverBenchmark() {
    }

    /** One shape of load: how many databases, how many writers each, and the target for the median window. */
    record Configuration(int databases, int writersPerDatabase, long targetMillis) {
        String label() {
            return databases + (databases == 1 ? " database" : " databases");
        }
    }

    /** What one cutover of one path measured. */
    record Trial(boolean succeeded, long windowMillis, long longestGapMillis, long failedAttempts, long commits,
                 long rowsLost, List<Step> steps, List<String> problems) {
    }

    public static void main(String[] args) throws Exception {
        int runs = intArg(args, "--runs", 5);
        int sourceMajor = intArg(args, "--source", 14);
        int targetMajor = intArg(args, "--target", 18);
        int rate = intArg(args, "--rate", DEFAULT_RATE);
        if (rate < 0) {
            throw new IllegalArgumentException("--rate must be 0 (back to back) or more commits per second, was " + rate);
        }
        if (runs < 1) {
            throw new IllegalArgumentException("--runs must be 1 or more, was " + runs);
        }
        List<Configuration> configurations = new ArrayList<>();
        for (String n : stringArg(args, "--databases", "1,10").split(",")) {
            int dbs = Integer.parseInt(n.trim());
            if (dbs < 1) {
                throw new IllegalArgumentException("--databases takes counts of 1 or more, was " + n);
            }
            // Two cores: two writers for a single database, one per database beyond.
            configurations.add(dbs == 1 ? new Configuration(1, 2, 1000) : new Configuration(dbs, 1, 2000));
        }
        log("cutover benchmark: %d run(s) per configuration, PostgreSQL %d -> %d, %s", runs, sourceMajor,
                targetMajor, rateText(rate));
        long started = System.nanoTime();

        Map<Configuration, List<Trial>> ours = new LinkedHashMap<>();
        Map<Configuration, List<Trial>> reference = new LinkedHashMap<>();
        Path state = Files.createTempDirectory("pgmigrate-cutover-bench");
        try {
            for (Configuration c : configurations) {
                ours.put(c, new ArrayList<>());
                reference.put(c, new ArrayList<>());
                var s = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(sourceMajor));
                var t = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(targetMajor));
                try (PostgresServer source = s.join(); PostgresServer target = t.join()) {
                    createAppRole(source);
                    createAppRole(target);
                    for (int run = 1; run <= runs; run++) {
                        // Alternate which path goes first, so neither always runs on the warmer servers.
                        if (run % 2 == 1) {
                            ours.get(c).add(runPgmigrate(source, target, state, c, run, rate));
                            reference.get(c).add(runReference(source, target, state, c, run, rate));
                        } else {
                            reference.get(c).add(runReference(source, target, state, c, run, rate));
                            ours.get(c).add(runPgmigrate(source, target, state, c, run, rate));
                        }
                    }
                }
            }
        } finally {
            try (var walk = Files.walk(state)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }

        boolean ok = printResults(configurations, ours, reference, runs, sourceMajor, targetMajor, rate);
        System.out.printf("total runtime %.0f s%n", seconds(started));
        if (!ok) {
            throw new IllegalStateException("cutover benchmark failed: rows were lost or a run had errors (see above)");
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // pgmigrate

    private static Trial runPgmigrate(PostgresServer source, PostgresServer target, Path state, Configuration c,
                                      int run, int rate) {
        String name = "ours" + c.databases() + "r" + run;
        List<String> dbs = createDatabases(source, name, c.databases());
        List<String> problems = new ArrayList<>();
        Trial trial = null;
        try (TcpProxy proxy = proxy(source, target);
             Migration m = Migration.builder().name(name).source(source.endpoint()).target(target.endpoint())
                     .databases(dbs).stateDirectory(state).trafficSwitch(proxy).build()) {
            try {
                m.start();
                m.awaitInSync(SYNC_TIMEOUT);
                grant(target, dbs);

                CutoverReport report;
                Load load = new Load(proxy.host(), proxy.port(), dbs, c.writersPerDatabase(), rate);
                try (load) {
                    load.warmUp();
                    load.resetGaps();
                    try {
                        report = m.cutover();
                    } catch (CutoverException e) {
                        report = e.report();
                        problems.add("cutover abandoned: " + report.failure());
                    }
                    if (report.succeeded()) {
                        load.awaitMoreCommits(COMMITS_AROUND, problems);
                    }
                }
                problems.addAll(load.problems());
                // An abandoned cutover leaves traffic on the source, so that is where the confirmed writes must be.
                long lost = load.rowsLost(report.succeeded() ? target : source);
                if (!report.succeeded() || lost > 0) {
                    System.out.println(report.toText());
                }
                trial = new Trial(report.succeeded(), report.writeUnavailable().toMillis(), load.longestGapMillis(),
                        load.failedAttempts(), load.commits(), lost, report.steps(), problems);
            } finally {
                complete(m, problems);
            }
        } catch (RuntimeException e) {
            problems.add("run failed: " + e);
        }
        if (trial == null) {
            trial = failed(problems);
        }
        dropDatabases(source, target, dbs);
        logTrial("pgmigrate", c, run, trial);
        return trial;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // reference: a careful scripted cutover over plain native logical replication

    private static Trial runReference(PostgresServer source, PostgresServer target, Path state, Configuration c,
                                      int run, int rate) {
        String name = "ref" + c.databases() + "r" + run;
        List<String> dbs = createDatabases(source, name, c.databases());
        List<String> problems = new ArrayList<>();
        Trial trial = null;
        // pgmigrate only sets up the publication and subscription here; it never sees the proxy or cuts over.
        try (TcpProxy proxy = proxy(source, target);
             Migration m = Migration.builder().name(name).source(source.endpoint()).target(target.endpoint())
                     .databases(dbs).stateDirectory(state).build()) {
            try {
                m.start();
                m.awaitInSync(SYNC_TIMEOUT);
                grant(target, dbs);

                List<Step> steps = List.of();
                long window = 0;
                boolean switched = false;
                Load load = new Load(proxy.host(), proxy.port(), dbs, c.writersPerDatabase(), rate);
                try (ScriptedCutover script = new ScriptedCutover(source, target, name, dbs, proxy); load) {
                    load.warmUp();
                    load.resetGaps();
                    try {
                        steps = script.run();
                        window = script.windowMillis();
                        switched = true;
                    } catch (Exception e) {
                        problems.add("scripted cutover failed: " + e);
                    }
                    if (switched) {
                        load.awaitMoreCommits(COMMITS_AROUND, problems);
                    }
                }
                problems.addAll(load.problems());
                long lost = load.rowsLost(proxy.active() == Side.TARGET ? target : source);
                trial = new Trial(switched, window, load.longestGapMillis(), load.failedAttempts(), load.commits(),
                        lost, steps, problems);
            } finally {
                // The source's databases must take writes again before complete() drops the publication there.
                for (String db : dbs) {
                    try {
                        source.execute("postgres", "ALTER DATABASE " + quote(db)
                                + " RESET default_transaction_read_only");
                    } catch (RuntimeException e) {
                        problems.add("resetting default_transaction_read_only failed: " + e.getMessage());
                    }
                }
                complete(m, problems);
            }
        } catch (SQLException | RuntimeException e) {
            problems.add("run failed: " + e);
        }
        if (trial == null) {
            trial = failed(problems);
        }
        dropDatabases(source, target, dbs);
        logTrial("reference", c, run, trial);
        return trial;
    }

    private static void complete(Migration m, List<String> problems) {
        try {
            m.complete();
        } catch (RuntimeException e) {
            problems.add("complete() failed: " + e);
        }
    }

    /**
     * What a careful operator's script does without pgmigrate's cutover, on sessions opened beforehand: per database
     * {@code ALTER DATABASE ... SET default_transaction_read_only = on} and terminate the application's sessions; then
     * poll every 100 ms until every slot's {@code confirmed_flush_lsn} has reached {@code pg_current_wal_lsn()} taken
     * after that; copy every sequence with {@code setval}; switch the proxy; disable the subscriptions. The window is
     * from the first {@code ALTER DATABASE} to the proxy switch.
     */
    static final class ScriptedCutover implements AutoCloseable {

        private final PostgresServer source;
        private final List<String> dbs;
        private final String migration;
        private final TcpProxy proxy;
        private final Connection sourceAdmin;
        private final Map<String, Connection> sourceDbs = new LinkedHashMap<>();
        private final Map<String, Connection> targetDbs = new LinkedHashMap<>();
        private long windowNanos;

        ScriptedCutover(PostgresServer source, PostgresServer target, String migration, List<String> dbs,
                        TcpProxy proxy) throws SQLException {
            this.source = source;
            this.dbs = dbs;
            this.migration = migration;
            this.proxy = proxy;
            this.sourceAdmin = source.connect("postgres");
            try {
                for (String db : dbs) {
                    sourceDbs.put(db, source.connect(db));
                    targetDbs.put(db, target.connect(db));
                    // Fail before the window if pgmigrate named the subscription otherwise.
                    try (PreparedStatement ps = targetDbs.get(db).prepareStatement(
                            "SELECT 1 FROM pg_subscription WHERE subname = ?")) {
                        ps.setString(1, subscription(db));
                        try (ResultSet rs = ps.executeQuery()) {
                            if (!rs.next()) {
                                throw new IllegalStateException("no subscription " + subscription(db) + " on the target");
                            }
                        }
                    }
                }
            } catch (SQLException | RuntimeException e) {
                close();
                throw e;
            }
        }

        String subscription(String db) {
            return "pgmigrate_" + migration + "_" + db + "_sub";
        }

        String slot(String db) {
            return "pgmigrate_" + migration + "_" + db + "_slot";
        }

        long windowMillis() {
            return windowNanos / 1_000_000;
        }

        List<Step> run() throws SQLException, InterruptedException {
            List<Step> steps = new ArrayList<>();
            long start = System.nanoTime();
            long t = start;
            // Plain pg_terminate_backend, as scripts do. Its timeout variant (14+) would wait until the session is
            // gone, but it checks only every 100 ms, which would add 100 ms per session to the window.
            for (String db : dbs) {
                try (Statement s = sourceAdmin.createStatement()) {
                    s.execute("ALTER DATABASE " + quote(db) + " SET default_transaction_read_only = on");
                }
                try (PreparedStatement ps = sourceAdmin.prepareStatement("SELECT count(pg_terminate_backend(pid))"
                        + " FROM pg_stat_activity WHERE usename = ? AND datname = ? AND pid <> pg_backend_pid()")) {
                    ps.setString(1, APP_ROLE);
                    ps.setString(2, db);
                    ps.executeQuery().close();
                }
            }
            steps.add(step("read-only + terminate sessions", t));

            t = System.nanoTime();
            String cut;
            try (Statement s = sourceAdmin.createStatement();
                 ResultSet rs = s.executeQuery("SELECT pg_current_wal_lsn()::text")) {
                rs.next();
                cut = rs.getString(1);
            }
            List<String> slots = dbs.stream().map(this::slot).toList();
            long deadline = System.nanoTime() + REFERENCE_CATCH_UP_TIMEOUT.toNanos();
            try (PreparedStatement ps = sourceAdmin.prepareStatement("""
                    SELECT count(*), count(*) FILTER (WHERE confirmed_flush_lsn >= ?::pg_lsn)
                    FROM pg_replication_slots WHERE slot_name = ANY (?)
                    """)) {
                ps.setString(1, cut);
                ps.setArray(2, sourceAdmin.createArrayOf("text", slots.toArray()));
                while (true) {
                    long present;
                    long caughtUp;
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        present = rs.getLong(1);
                        caughtUp = rs.getLong(2);
                    }
                    if (present != slots.size()) {
                        throw new IllegalStateException("only " + present + " of the slots " + slots + " exist");
                    }
                    if (caughtUp == present) {
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("slots did not reach " + cut + " within "
                                + REFERENCE_CATCH_UP_TIMEOUT);
                    }
                    Thread.sleep(REFERENCE_POLL_MILLIS);
                }
            }
            steps.add(step("slots caught up (100 ms polls)", t));

            t = System.nanoTime();
            for (String db : dbs) {
                Connection to = targetDbs.get(db);
                try (Statement s = sourceDbs.get(db).createStatement();
                     ResultSet rs = s.executeQuery("""
                             SELECT schemaname, sequencename, last_value FROM pg_sequences
                             WHERE last_value IS NOT NULL
                             """);
                     PreparedStatement set = to.prepareStatement(
                             "SELECT setval(format('%I.%I', ?, ?)::regclass, ?, true)")) {
                    while (rs.next()) {
                        set.setString(1, rs.getString(1));
                        set.setString(2, rs.getString(2));
                        set.setLong(3, rs.getLong(3));
                        set.executeQuery().close();
                    }
                }
            }
            steps.add(step("sequences", t));

            t = System.nanoTime();
            proxy.switchTo(Side.TARGET);
            windowNanos = System.nanoTime() - start;
            steps.add(step("traffic switch", t));

            for (String db : dbs) {
                try (Statement s = targetDbs.get(db).createStatement()) {
                    s.execute("ALTER SUBSCRIPTION " + quote(subscription(db)) + " DISABLE");
                }
            }
            return steps;
        }

        @Override
        public void close() throws SQLException {
            SQLException first = null;
            List<Connection> all = new ArrayList<>(sourceDbs.values());
            all.addAll(targetDbs.values());
            all.add(sourceAdmin);
            for (Connection c : all) {
                try {
                    c.close();
                } catch (SQLException e) {
                    first = first == null ? e : first;
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // setup shared by both paths

    private static void createAppRole(PostgresServer server) {
        server.execute("postgres", """
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN
                    CREATE ROLE %s LOGIN PASSWORD '%s';
                  END IF;
                END $$
                """.formatted(APP_ROLE, APP_ROLE, APP_PASSWORD));
    }

    /** Fresh databases {@code <prefix>_d<i>} on the source, each with a ledger and some history. */
    private static List<String> createDatabases(PostgresServer source, String prefix, int n) {
        List<String> dbs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String db = prefix + "_d" + i;
            source.createDatabase(db);
            source.execute(db, """
                    CREATE TABLE ledger (id bigserial PRIMARY KEY, writer integer NOT NULL, seq bigint NOT NULL,
                                         at timestamptz NOT NULL DEFAULT now(), UNIQUE (writer, seq));
                    INSERT INTO ledger (writer, seq) SELECT -1, g FROM generate_series(1, %d) g;
                    """.formatted(HISTORY_ROWS));
            dbs.add(db);
        }
        grant(source, dbs);
        return dbs;
    }

    private static void grant(PostgresServer server, List<String> dbs) {
        for (String db : dbs) {
            server.execute(db, "GRANT ALL ON ALL TABLES IN SCHEMA public TO " + APP_ROLE
                    + "; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO " + APP_ROLE);
        }
    }

    /** Drops a run's databases on both servers so later runs work on servers as light as the first. */
    private static void dropDatabases(PostgresServer source, PostgresServer target, List<String> dbs) {
        for (PostgresServer server : List.of(source, target)) {
            for (String db : dbs) {
                try {
                    server.execute("postgres", "DROP DATABASE IF EXISTS " + quote(db) + " WITH (FORCE)");
                } catch (RuntimeException e) {
                    // Leaves a database behind; later runs use other names, so they are not affected.
                    log("could not drop %s on %s: %s", db, server, e.getMessage());
                }
            }
        }
    }

    private static TcpProxy proxy(PostgresServer source, PostgresServer target) {
        return TcpProxy.start(new InetSocketAddress(source.host(), source.port()),
                new InetSocketAddress(target.host(), target.port()), Side.SOURCE);
    }

    private static Trial failed(List<String> problems) {
        return new Trial(false, 0, 0, 0, 0, 0, List.of(), problems);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // load

    /** The writers of every database of one run. */
    static final class Load implements AutoCloseable {

        private final List<DatabaseWriters> databases = new ArrayList<>();

        Load(String host, int port, List<String> dbs, int writersPerDatabase, int ratePerDatabase) {
            for (String db : dbs) {
                databases.add(new DatabaseWriters(host, port, db, writersPerDatabase, ratePerDatabase));
            }
        }

        /** Lets the writers run for a while, so the stream carries steady load when the cutover begins. */
        void warmUp() {
            long before = commits();
            long t = System.nanoTime();
            sleep(WARM_UP.toMillis());
            List<String> problems = new ArrayList<>();
            awaitMoreCommits(COMMITS_AROUND, problems);
            if (!problems.isEmpty()) {
                throw new IllegalStateException("writers did not get going: " + problems);
            }
            log("  load: %.0f commits/s over %d database(s)", (commits() - before) / seconds(t), databases.size());
        }

        void awaitMoreCommits(long n, List<String> problems) {
            for (DatabaseWriters d : databases) {
                d.awaitMoreCommits(n, problems);
            }
        }

        void resetGaps() {
            databases.forEach(DatabaseWriters::resetGap);
        }

        /** The longest time any one database went without a successful commit. */
        long longestGapMillis() {
            return databases.stream().mapToLong(DatabaseWriters::longestGapMillis).max().orElse(0);
        }

        long failedAttempts() {
            return databases.stream().mapToLong(DatabaseWriters::failedAttempts).sum();
        }

        long commits() {
            return databases.stream().mapToLong(DatabaseWriters::commits).sum();
        }

        List<String> problems() {
            List<String> out = new ArrayList<>();
            databases.forEach(d -> out.addAll(d.problems()));
            return out;
        }

        /** Confirmed commits missing on {@code server}; read after {@link #close()}. */
        long rowsLost(PostgresServer server) {
            long lost = 0;
            for (DatabaseWriters d : databases) {
                lost += d.rowsLost(server);
            }
            return lost;
        }

        @Override
        public void close() {
            databases.forEach(DatabaseWriters::stop);
            databases.forEach(DatabaseWriters::join);
        }
    }

    /**
     * Writer threads on one database, committing {@code (writer, seq)} rows through the proxy as the application role
     * and remembering every commit they saw succeed. A failed attempt is retried with the same key; a unique violation
     * on the retry means the earlier attempt had committed.
     */
    static final class DatabaseWriters {

        private final String host;
        private final int port;
        private final String db;
        /** Each writer's pause from the start of one commit to the start of the next; 0 for back to back. */
        private final long intervalNanos;
        private final List<Thread> threads = new ArrayList<>();
        private final Set<Long> confirmed = new HashSet<>();
        private final AtomicLong commits = new AtomicLong();
        private final AtomicLong failedAttempts = new AtomicLong();
        private final List<String> problems = Collections.synchronizedList(new ArrayList<>());
        private volatile boolean running = true;
        // Guarded by confirmed.
        private long lastCommitNanos = System.nanoTime();
        private long longestGapNanos;

        DatabaseWriters(String host, int port, String db, int writers, int ratePerDatabase) {
            this.host = host;
            this.port = port;
            this.db = db;
            this.intervalNanos = ratePerDatabase == 0 ? 0 : writers * 1_000_000_000L / ratePerDatabase;
            for (int w = 0; w < writers; w++) {
                int writer = w;
                Thread t = new Thread(() -> write(writer), "writer-" + db + "-" + w);
                t.setDaemon(true);
                threads.add(t);
                t.start();
            }
        }

        private void write(int writer) {
            long seq = 1;
            Connection c = null;
            PreparedStatement insert = null;
            while (running) {
                try {
                    if (c == null) {
                        c = connectAsApp();
                        c.setAutoCommit(false);
                        insert = c.prepareStatement("INSERT INTO ledger (writer, seq) VALUES (?, ?)");
                    }
                    long begin = System.nanoTime();
                    insert.setInt(1, writer);
                    insert.setLong(2, seq);
                    insert.executeUpdate();
                    c.commit();
                    committed(writer, seq++);
                    long rest = begin + intervalNanos - System.nanoTime();
                    if (rest > 0) {
                        LockSupport.parkNanos(rest);
                    }
                } catch (SQLException e) {
                    failedAttempts.incrementAndGet();
                    String state = e.getSQLState();
                    boolean keep = false;
                    if ("23505".equals(state) && String.valueOf(e.getMessage()).contains("ledger_writer_seq_key")) {
                        // The previous attempt of this key did commit; the client just did not hear it.
                        committed(writer, seq++);
                        keep = true;
                    } else if ("25006".equals(state)) {
                        keep = true; // fenced or read-only: the session is fine, the side is not taking writes
                    } else if (!isConnectionProblem(e)) {
                        problems.add(db + " writer " + writer + ": " + state + " " + e.getMessage());
                    }
                    if (keep && !rollback(c)) {
                        keep = false;
                    }
                    if (!keep) {
                        closeQuietly(c);
                        c = null;
                    }
                    sleep(5);
                }
            }
            closeQuietly(c);
        }

        private Connection connectAsApp() throws SQLException {
            Properties p = new Properties();
            p.setProperty("user", APP_ROLE);
            p.setProperty("password", APP_PASSWORD);
            p.setProperty("connectTimeout", "5");
            p.setProperty("socketTimeout", "30");
            p.setProperty("ApplicationName", "cutover-bench-writer");
            // The driver directly: DriverManager misses drivers of other class loaders, as under exec:java.
            Connection c = new org.postgresql.Driver().connect("jdbc:postgresql://" + host + ":" + port + "/" + db, p);
            if (c == null) {
                throw new SQLException("pgjdbc refused the URL for " + db);
            }
            return c;
        }

        private static boolean isConnectionProblem(SQLException e) {
            String state = e.getSQLState();
            return state == null || state.startsWith("08") || state.startsWith("57P");
        }

        private static boolean rollback(Connection c) {
            try {
                c.rollback();
                return true;
            } catch (SQLException e) {
                return false;
            }
        }

        private static void closeQuietly(Connection c) {
            if (c != null) {
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // the connection is gone anyway
                }
            }
        }

        private void committed(int writer, long seq) {
            long now = System.nanoTime();
            synchronized (confirmed) {
                confirmed.add(key(writer, seq));
                longestGapNanos = Math.max(longestGapNanos, now - lastCommitNanos);
                lastCommitNanos = now;
            }
            commits.incrementAndGet();
        }

        void resetGap() {
            synchronized (confirmed) {
                lastCommitNanos = System.nanoTime();
                longestGapNanos = 0;
            }
        }

        long longestGapMillis() {
            synchronized (confirmed) {
                return longestGapNanos / 1_000_000;
            }
        }

        long commits() {
            return commits.get();
        }

        long failedAttempts() {
            return failedAttempts.get();
        }

        List<String> problems() {
            synchronized (problems) {
                return List.copyOf(problems.subList(0, Math.min(problems.size(), 5)));
            }
        }

        void awaitMoreCommits(long n, List<String> out) {
            long goal = commits.get() + n;
            long deadline = System.nanoTime() + PROGRESS_TIMEOUT.toNanos();
            while (commits.get() < goal) {
                if (System.nanoTime() > deadline) {
                    out.add(db + ": writers made no progress for " + PROGRESS_TIMEOUT.toSeconds() + " s ("
                            + failedAttempts.get() + " failed attempts)");
                    return;
                }
                sleep(2);
            }
        }

        void stop() {
            running = false;
        }

        void join() {
            for (Thread t : threads) {
                try {
                    t.join(PROGRESS_TIMEOUT.toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }

        long rowsLost(PostgresServer server) {
            Set<Long> present = new HashSet<>();
            try (Connection c = server.connect(db); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT writer, seq FROM ledger WHERE writer >= 0")) {
                while (rs.next()) {
                    present.add(key(rs.getInt(1), rs.getLong(2)));
                }
            } catch (SQLException e) {
                throw new IllegalStateException("reading the ledger of " + db + " on " + server + " failed", e);
            }
            synchronized (confirmed) {
                return confirmed.stream().filter(k -> !present.contains(k)).count();
            }
        }

        private static long key(int writer, long seq) {
            return ((long) writer << 40) | seq;
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // results

    private static void logTrial(String path, Configuration c, int run, Trial t) {
        log("%s, %s, run %d: %s, window %d ms, writers' longest gap %d ms, %d failed attempts, %d commits, "
                        + "%d rows lost%s", path, c.label(), run, t.succeeded() ? "switched" : "NOT switched",
                t.windowMillis(), t.longestGapMillis(), t.failedAttempts(), t.commits(), t.rowsLost(),
                t.problems().isEmpty() ? "" : "; problems: " + t.problems());
        if (!t.steps().isEmpty()) {
            StringBuilder sb = new StringBuilder();
            for (Step s : t.steps()) {
                sb.append(sb.isEmpty() ? "" : ", ").append(stepName(s)).append(' ').append(s.duration().toMillis());
            }
            log("  steps (ms): %s", sb);
        }
    }

    private static boolean printResults(List<Configuration> configurations, Map<Configuration, List<Trial>> ours,
                                        Map<Configuration, List<Trial>> reference, int runs, int sourceMajor,
                                        int targetMajor, int rate) {
        boolean ok = true;
        String format = "%-13s %-22s %8s %8s %-16s %9s %8s %10s %9s %7s%n";
        System.out.println();
        System.out.printf("cutover under continuous load (%s), PostgreSQL %d -> %d, %d run(s) per"
                + " configuration%n", rateText(rate), sourceMajor, targetMajor, runs);
        System.out.printf(format, "", "", "window", "window", "", "writers'", "writers'", "failed", "", "");
        System.out.printf(format, "configuration", "path", "median", "max", "target (median)", "gap med", "gap max",
                "attempts", "rows lost", "ok runs");
        for (Configuration c : configurations) {
            String config = c.label();
            String writers = c.writersPerDatabase() + (c.writersPerDatabase() == 1 ? " writer" : " writers")
                    + (c.databases() == 1 ? "" : " each");
            double oursMedian = printRow(format, config, "pgmigrate cutover()", ours.get(c), c.targetMillis());
            double refMedian = printRow(format, writers, "reference (scripted)", reference.get(c), -1);
            if (oursMedian > 0 && refMedian > 0) {
                System.out.printf("%-13s ratio reference / pgmigrate (median window): %.1f%n", "",
                        refMedian / oursMedian);
            }
            for (List<Trial> ts : List.of(ours.get(c), reference.get(c))) {
                for (Trial t : ts) {
                    ok &= t.succeeded() && t.rowsLost() == 0 && t.problems().isEmpty();
                }
            }
        }
        System.out.println("window: first refused write to traffic on the target (pgmigrate: CutoverReport"
                + ".writeUnavailable(); reference: ALTER DATABASE to proxy switch), in ms");
        System.out.println("writers' gap: longest time one database went without a successful commit, in ms;"
                + " failed attempts: median per run; rows lost: confirmed commits missing on the new side, all runs");

        for (Configuration c : configurations) {
            System.out.println();
            System.out.println("pgmigrate steps, " + c.label() + ", median ms (* inside the window):");
            printSteps(ours.get(c), true);
            System.out.println("reference steps, " + c.label() + ", median ms (all inside the window):");
            printSteps(reference.get(c), false);
        }

        for (Configuration c : configurations) {
            for (var e : List.of(Map.entry("pgmigrate", ours.get(c)), Map.entry("reference", reference.get(c)))) {
                for (int i = 0; i < e.getValue().size(); i++) {
                    Trial t = e.getValue().get(i);
                    if (!t.problems().isEmpty()) {
                        System.out.printf("PROBLEM %s, %s, run %d: %s%n", e.getKey(), c.label(), i + 1, t.problems());
                    }
                }
            }
        }
        return ok;
    }

    /** Prints one row and returns the median window of the successful runs, or -1 when none succeeded. */
    private static double printRow(String format, String config, String path, List<Trial> trials, long targetMillis) {
        List<Trial> good = trials.stream().filter(Trial::succeeded).toList();
        long lost = trials.stream().mapToLong(Trial::rowsLost).sum();
        String okRuns = good.size() + "/" + trials.size();
        if (good.isEmpty()) {
            System.out.printf(format, config, path, "-", "-", "", "-", "-", "-", lost, okRuns);
            return -1;
        }
        double median = median(good, Trial::windowMillis);
        String target = "";
        if (targetMillis > 0) {
            target = "< " + targetMillis + (median < targetMillis ? " met" : " MISSED");
        }
        System.out.printf(format, config, path, fmt(median), max(good, Trial::windowMillis), target,
                fmt(median(good, Trial::longestGapMillis)), max(good, Trial::longestGapMillis),
                fmt(median(good, Trial::failedAttempts)), lost, okRuns);
        return median;
    }

    private static void printSteps(List<Trial> trials, boolean markWindow) {
        Map<String, List<Long>> byName = new LinkedHashMap<>();
        Set<String> inWindow = new HashSet<>();
        List<Long> unaccounted = new ArrayList<>();
        for (Trial t : trials) {
            if (!t.succeeded()) {
                continue;
            }
            boolean inside = false;
            long sum = 0;
            for (Step s : t.steps()) {
                String name = stepName(s);
                inside |= name.startsWith("fence");
                byName.computeIfAbsent(name, k -> new ArrayList<>()).add(s.duration().toMillis());
                if (inside) {
                    inWindow.add(name);
                    sum += s.duration().toMillis();
                }
                if (name.startsWith("lift fence")) {
                    inside = false;
                }
            }
            unaccounted.add(t.windowMillis() - sum);
        }
        String dominant = null;
        double dominantMs = -1;
        for (var e : byName.entrySet()) {
            double m = median(e.getValue(), Long::longValue);
            boolean counts = markWindow ? inWindow.contains(e.getKey()) : true;
            if (counts && m > dominantMs) {
                dominant = e.getKey();
                dominantMs = m;
            }
            System.out.printf("  %s %-34s %8s%n", markWindow && inWindow.contains(e.getKey()) ? "*" : " ", e.getKey(),
                    fmt(m));
        }
        if (markWindow && !unaccounted.isEmpty()) {
            System.out.printf("  * %-34s %8s%n", "(window not in any step)", fmt(median(unaccounted, Long::longValue)));
        }
        if (dominant != null) {
            System.out.printf("  largest step in the window: %s (%s ms median)%n", dominant, fmt(dominantMs));
        }
    }

    /** A step's name without the proxy's port, so the same step of different runs is grouped. */
    private static String stepName(Step s) {
        return s.name().replaceAll("\\s*\\(tcp proxy [^)]*\\)", "");
    }

    private static <T> double median(List<T> items, ToLongFunction<T> f) {
        long[] v = items.stream().mapToLong(f).sorted().toArray();
        if (v.length == 0) {
            return 0;
        }
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2.0;
    }

    private static <T> long max(List<T> items, ToLongFunction<T> f) {
        return items.stream().mapToLong(f).max().orElse(0);
    }

    private static Step step(String name, long startNanos) {
        return new Step(name, Duration.ofNanos(System.nanoTime() - startNanos));
    }

    private static String quote(String identifier) {
        return "\"" + identifier.replace("\"", "\"\"") + "\"";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String rateText(int rate) {
        return rate == 0 ? "writers back to back" : "writers at " + rate + " commits/s per database";
    }

    private static String stringArg(String[] args, String name, String def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }

    private static int intArg(String[] args, String name, int def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return Integer.parseInt(args[i + 1]);
            }
        }
        return def;
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? String.format("%.0f", d) : String.format("%.1f", d);
    }

    private static void log(String format, Object... args) {
        System.out.printf("%tT " + format + "%n", prepend(System.currentTimeMillis(), args));
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] out = new Object[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }
}
