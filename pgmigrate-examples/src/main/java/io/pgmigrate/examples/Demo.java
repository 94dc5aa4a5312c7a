package io.pgmigrate.examples;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.traffic.HoldingDataSource;
import org.postgresql.ds.PGSimpleDataSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The main job: an embedded PostgreSQL 14 with a shop database and live writes is migrated to an embedded PostgreSQL
 * 18 while the writes go on, then cut over with zero downtime. The application writes through a holding DataSource that
 * the cutover re-points; the demo prints progress while the tables copy, the cutover report, and the application's
 * own view: the longest gap between successful commits, failed attempts, and rows lost (must be 0).
 */
public final class Demo {

    private static final int ORDERS = 300_000;

    private Demo() {
    }

    public static void main(String[] args) throws Exception {
        long t0 = System.nanoTime();
        say("starting PostgreSQL 14 (source) and PostgreSQL 18 (target) from embedded binaries ...");
        CompletableFuture<EmbeddedPostgresServer> src = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(14));
        CompletableFuture<EmbeddedPostgresServer> tgt = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(18));
        Path state = Files.createTempDirectory("pgmigrate-demo-state");
        try (PostgresServer source = src.join(); PostgresServer target = tgt.join();
             ) {
            say("source: PostgreSQL %d on %s:%d   target: PostgreSQL %d on %s:%d",
                    source.majorVersion(), source.host(), source.port(), target.majorVersion(), target.host(),
                    target.port());
            // The application's connections: held through the cutover's window, then moved to PostgreSQL 18.
            HoldingDataSource app = HoldingDataSource.builder(appDataSource(source), appDataSource(target))
                    .initial(Side.SOURCE).build();
            createShop(source);
            createAppRole(source);
            createAppRole(target);
            grantApp(source);

            Writer writer = new Writer(app);
            Thread writerThread = new Thread(writer, "demo-writer");
            writerThread.start();
            say("the application (role %s) inserts and updates orders through a holding DataSource, and keeps going"
                    + " throughout",
                    APP_ROLE);

            try (Migration migration = Migration.builder()
                    .name("demo")
                    .source(source.endpoint("shop"))
                    .target(target.endpoint())
                    .stateDirectory(state)
                    .trafficSwitch(app)
                    .progressInterval(Duration.ofSeconds(1))
                    .listener(new ProgressPrinter())
                    .build()) {

                System.out.print(migration.preflight().toTable());
                long startedAt = System.nanoTime();
                migration.start();
                MigrationStatus synced = migration.awaitInSync(Duration.ofMinutes(2));
                Duration copyTime = Duration.ofNanos(System.nanoTime() - startedAt);
                long commitsDuringCopy = writer.commits.get();
                grantApp(target); // roles and grants are not part of the schema copy yet
                printSynced(synced, copyTime, commitsDuringCopy);

                // Streaming for a moment, then the cutover while the application keeps writing.
                Thread.sleep(2000);
                long failedBefore = writer.failures.get();
                writer.resetGap();
                CutoverReport report = migration.cutover();
                Thread.sleep(2000); // the application goes on, now on PostgreSQL 18
                writer.running.set(false);
                writerThread.join();

                say("");
                say("=== cutover ===");
                say(report.toText());
                Set<String> onTarget = refs(target);
                long lost = writer.confirmed.stream().filter(r -> !onTarget.contains(r)).count();
                say("");
                say("the application's view: %,d commits in all, %d failed attempts during the cutover,"
                        + " longest gap between successful commits %d ms, rows lost %d",
                        writer.commits.get(), writer.failures.get() - failedBefore, writer.longestGapMillis(), lost);

                // The reverse stream keeps PostgreSQL 14 in step, so both sides can be compared exactly.
                migration.awaitInSync(Duration.ofMinutes(1));
                VerificationReport verification = migration.verify();
                printVerification(verification);
                migration.complete();
                say("complete(): every replication object and the fence removed; the data is on PostgreSQL 18");
                if (lost != 0 || !verification.matches() || !report.succeeded()) {
                    throw new IllegalStateException("the demo found a problem: rows lost " + lost + ", verification "
                            + verification.mismatches());
                }
            } finally {
                writer.running.set(false);
            }
        } finally {
            deleteRecursively(state);
        }
        say("demo finished in %.1f s", (System.nanoTime() - t0) / 1e9);
    }

    private static final String APP_ROLE = "shop_app";

    private static void createAppRole(PostgresServer server) {
        server.execute("postgres", "CREATE ROLE " + APP_ROLE + " LOGIN PASSWORD 'demo-only'");
    }

    private static PGSimpleDataSource appDataSource(PostgresServer server) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setServerNames(new String[] {server.host()});
        ds.setPortNumbers(new int[] {server.port()});
        ds.setDatabaseName("shop");
        ds.setUser(APP_ROLE);
        ds.setPassword("demo-only");
        return ds;
    }

    private static void grantApp(PostgresServer server) {
        server.execute("shop", "GRANT ALL ON ALL TABLES IN SCHEMA public TO " + APP_ROLE
                + "; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO " + APP_ROLE);
    }

    private static Set<String> refs(PostgresServer server) throws SQLException {
        Set<String> out = new HashSet<>();
        try (Connection c = server.connect("shop"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT ref::text FROM orders WHERE ref IS NOT NULL")) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    private static void createShop(PostgresServer source) throws SQLException {
        source.createDatabase("shop");
        try (Connection c = source.connect("shop"); Statement s = c.createStatement()) {
            s.execute("""
                    CREATE TABLE customers (
                        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                        name text NOT NULL,
                        email text UNIQUE,
                        created_at timestamptz NOT NULL DEFAULT now()
                    );
                    CREATE TABLE orders (
                        id bigserial PRIMARY KEY,
                        customer_id bigint NOT NULL REFERENCES customers (id),
                        total numeric(12, 2) NOT NULL CHECK (total >= 0),
                        status text NOT NULL DEFAULT 'new',
                        items jsonb,
                        placed_at timestamptz NOT NULL DEFAULT now(),
                        ref uuid UNIQUE
                    );
                    CREATE INDEX orders_customer_idx ON orders (customer_id);
                    INSERT INTO customers (name, email)
                    SELECT 'Kunde ' || g, 'c' || g || '@example.org' FROM generate_series(1, 20000) g;
                    """);
            s.execute("""
                    INSERT INTO orders (customer_id, total, status, items, placed_at)
                    SELECT 1 + g % 20000, (g % 50000) / 100.0, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
                           jsonb_build_object('sku', 'SKU-' || g % 977, 'qty', 1 + g % 5),
                           now() - g * interval '1 second'
                    FROM generate_series(1, :orders) g;
                    ANALYZE;
                    """.replace(":orders", Integer.toString(ORDERS)));
        }
        say("source database shop: 20,000 customers, %,d orders", ORDERS);
    }

    private static void printSynced(MigrationStatus synced, Duration copyTime, long commitsDuringCopy) {
        say("");
        say("=== in sync ===");
        for (DatabaseStatus d : synced.databases()) {
            say("database %s: %s, %d tables copied, lag %d bytes at %s", d.database(), d.phase(), d.tables().size(),
                    d.lagBytes(), d.confirmedLsn());
        }
        say("initial copy and catch-up took %.1f s while the application committed %,d transactions",
                copyTime.toMillis() / 1000.0, commitsDuringCopy);
        say("");
    }

    private static void printVerification(VerificationReport verification) {
        say("");
        say("%-28s %12s %12s  %s", "table", "source rows", "target rows", "digest");
        for (TableVerification t : verification.tables()) {
            say("%-28s %,12d %,12d  %s", t.schema() + "." + t.table(), t.sourceRows(), t.targetRows(),
                    t.matches() ? "identical" : "DIFFERENT");
        }
        say("verification after the cutover (the reverse stream keeps the source in step): %s (%d ms)",
                verification.matches() ? "every table identical" : "DIFFERENCES FOUND",
                verification.elapsed().toMillis());
        say("");
    }

    /** Lines of the live view on the terminal now, which the next view replaces. */
    private static int liveLines;

    private static synchronized void say(String format, Object... args) {
        System.out.println(args.length == 0 ? format : String.format(format, args));
        liveLines = 0;
    }

    private static synchronized void live(String text) {
        boolean terminal = System.console() != null && !"dumb".equals(System.getenv("TERM"));
        if (terminal && liveLines > 0) {
            System.out.print("\033[" + liveLines + "F\033[J"); // back to the view's first line, clear below
        }
        System.out.println(text);
        liveLines = terminal ? (int) text.lines().count() : 0;
    }

    private static void deleteRecursively(Path dir) throws java.io.IOException {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /**
     * Prints {@link MigrationStatus#toText()} at every progress event: on a terminal, in place of the previous one (the
     * lines printed in between stay); elsewhere, one after the other.
     */
    private static final class ProgressPrinter implements MigrationListener {

        @Override
        public void onPhase(String database, Phase phase) {
            say("[%s] phase %s", database, phase);
        }

        @Override
        public void onWarning(String database, String message) {
            say("[%s] warning: %s", database, message);
        }

        @Override
        public void onProgress(MigrationStatus status) {
            live(status.toText());
        }
    }

    /**
     * The application: inserts orders (each with a client-made reference, so a retried insert whose commit was not
     * heard can be recognised) and updates their status through the holding DataSource, reconnecting after an
     * error.
     */
    private static final class Writer implements Runnable {

        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicLong commits = new AtomicLong();
        final AtomicLong failures = new AtomicLong();
        final Set<String> confirmed = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private final javax.sql.DataSource dataSource;
        private volatile long lastCommit = System.nanoTime();
        private final AtomicLong longestGap = new AtomicLong();

        Writer(javax.sql.DataSource dataSource) {
            this.dataSource = dataSource;
        }

        void resetGap() {
            lastCommit = System.nanoTime();
            longestGap.set(0);
        }

        long longestGapMillis() {
            return longestGap.get() / 1_000_000;
        }

        @Override
        public void run() {
            ThreadLocalRandom r = ThreadLocalRandom.current();
            Connection c = null;
            String pending = null;
            while (running.get()) {
                try {
                    if (c == null) {
                        c = dataSource.getConnection();
                    }
                    if (pending != null || r.nextBoolean()) {
                        String ref = pending != null ? pending : UUID.randomUUID().toString();
                        pending = ref;
                        try (PreparedStatement insert = c.prepareStatement("INSERT INTO orders (customer_id, total,"
                                + " items, ref) VALUES (?, ?, '{\"sku\": \"LIVE\"}', ?::uuid)")) {
                            insert.setLong(1, 1 + r.nextInt(20000));
                            insert.setBigDecimal(2, java.math.BigDecimal.valueOf(r.nextInt(100000), 2));
                            insert.setString(3, ref);
                            insert.executeUpdate();
                        }
                        confirmed.add(ref);
                        pending = null;
                    } else {
                        try (PreparedStatement update = c.prepareStatement(
                                "UPDATE orders SET status = 'paid' WHERE id = ?")) {
                            update.setLong(1, 1 + r.nextInt(ORDERS));
                            update.executeUpdate();
                        }
                    }
                    long now = System.nanoTime();
                    longestGap.accumulateAndGet(now - lastCommit, Math::max);
                    lastCommit = now;
                    commits.incrementAndGet();
                    Thread.sleep(2);
                } catch (SQLException e) {
                    if ("23505".equals(e.getSQLState()) && pending != null) {
                        confirmed.add(pending); // the earlier attempt committed; its answer was lost with the connection
                        pending = null;
                    }
                    failures.incrementAndGet();
                    closeQuietly(c);
                    c = null;
                    LockSupport.parkNanos(5_000_000); // do not spin while the database is fenced
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            closeQuietly(c);
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
    }
}
