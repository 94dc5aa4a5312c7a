package io.pgmigrate.core.it;

import io.pgmigrate.testkit.Pacer;
import io.pgmigrate.testkit.PostgresServer;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A database of idempotent writes for cutover proofs, and writer threads that commit through a proxy as an
 * application role and remember every commit they saw succeed. Nothing here calls pgmigrate.
 *
 * <p>Each write is one transaction: insert {@code (writer, seq)} into {@code ledger} (id from a bigserial, so the
 * sequences must be carried over) and add one to the writer's row in {@code counters}. A commit whose outcome the
 * client did not learn is retried with the same {@code seq}; a unique violation then means it had committed.
 * {@code ledger} may be partitioned ({@link #create(PostgresServer, String, int, boolean)}).
 */
final class Ledger {

    static final String APP_ROLE = "ledger_app";

    private Ledger() {
    }

    /** Creates the database with the two tables and some history on {@code server}, and the application role. */
    static void create(PostgresServer server, String db, int writers) {
        create(server, db, writers, false);
    }

    /**
     * As {@link #create(PostgresServer, String, int)}; with {@code partitioned}, {@code ledger} is partitioned
     * (history and live rows), so a cutover proof also carries a partitioned table through the stream, the fence and
     * the way back. Applying into a partitioned table costs the subscriber more per row: on two cores it keeps up
     * with a few writers for a while, not with four unthrottled ones for minutes (CutoverCrashIT uses plain tables).
     */
    static void create(PostgresServer server, String db, int writers, boolean partitioned) {
        server.createDatabase(db);
        server.execute(db, (partitioned ? """
                CREATE TABLE ledger (id bigserial, writer integer NOT NULL, seq bigint NOT NULL,
                                     note text, PRIMARY KEY (id, writer), UNIQUE (writer, seq))
                    PARTITION BY LIST (writer);
                CREATE TABLE ledger_history PARTITION OF ledger FOR VALUES IN (-1);
                CREATE TABLE ledger_live PARTITION OF ledger DEFAULT;
                """ : """
                CREATE TABLE ledger (id bigserial PRIMARY KEY, writer integer NOT NULL, seq bigint NOT NULL,
                                     note text, UNIQUE (writer, seq));
                """) + """
                CREATE TABLE counters (writer integer PRIMARY KEY, n bigint NOT NULL);
                CREATE TABLE audit (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
                INSERT INTO audit (note) SELECT 'a' || g FROM generate_series(1, 77) g;
                CREATE SEQUENCE free_standing START 1000;
                SELECT nextval('free_standing') FROM generate_series(1, 10);
                INSERT INTO ledger (writer, seq, note) SELECT -1, g, 'history' FROM generate_series(1, 5000) g;
                INSERT INTO counters SELECT w, 0 FROM generate_series(0, :w) w;
                """.replace(":w", Integer.toString(writers - 1)));
        createRole(server);
        grant(server, db);
    }

    static void createRole(PostgresServer server) {
        server.execute("postgres", """
                DO $$ BEGIN
                  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ledger_app') THEN
                    CREATE ROLE ledger_app LOGIN PASSWORD 'app-secret';
                  END IF;
                END $$
                """);
    }

    /** Lets the application role use the tables; run on the target once the schema is there. */
    static void grant(PostgresServer server, String db) {
        server.execute(db, "GRANT ALL ON ALL TABLES IN SCHEMA public TO " + APP_ROLE
                + "; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO " + APP_ROLE);
    }

    static Connection connectAsApp(String host, int port, String db) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", APP_ROLE);
        p.setProperty("password", "app-secret");
        p.setProperty("connectTimeout", "5");
        p.setProperty("socketTimeout", "30");
        return DriverManager.getConnection("jdbc:postgresql://" + host + ":" + port + "/" + db, p);
    }

    /** Every {@code (writer, seq)} in the ledger of one server. */
    static Set<Long> keys(PostgresServer server, String db) throws SQLException {
        Set<Long> out = new HashSet<>();
        try (Connection c = server.connect(db); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT writer, seq FROM ledger WHERE writer >= 0")) {
            while (rs.next()) {
                out.add(key(rs.getInt(1), rs.getLong(2)));
            }
        }
        return out;
    }

    static long key(int writer, long seq) {
        return ((long) writer << 40) | seq;
    }

    /**
     * Writer threads committing through {@code host:port} until stopped, each at most {@link #RATE} commits a second:
     * an application's steady load, which the stream absorbs on any machine. A test that needs the target behind
     * makes it so itself.
     */
    static final class Writers implements AutoCloseable {

        static final int RATE = 50;

        private final AtomicBoolean running = new AtomicBoolean(true);
        private final List<Thread> threads = new ArrayList<>();
        private final Set<Long> confirmed = new HashSet<>();
        private final AtomicLong commits = new AtomicLong();
        private final AtomicLong failedAttempts = new AtomicLong();
        private final AtomicLong longestGapNanos = new AtomicLong();
        private final List<Throwable> unexpected = new ArrayList<>();
        private volatile long lastCommit = System.nanoTime();

        Writers(String host, int port, String db, int count) {
            for (int w = 0; w < count; w++) {
                int writer = w;
                Thread t = new Thread(() -> run(host, port, db, writer), "ledger-" + db + "-" + w);
                threads.add(t);
                t.start();
            }
        }

        private void run(String host, int port, String db, int writer) {
            long seq = 1;
            Connection c = null;
            Pacer pacer = Pacer.perSecond(RATE);
            while (running.get()) {
                try {
                    pacer.await();
                    if (c == null) {
                        c = connectAsApp(host, port, db);
                        c.setAutoCommit(false);
                    }
                    try (PreparedStatement ins = c.prepareStatement(
                            "INSERT INTO ledger (writer, seq, note) VALUES (?, ?, 'live')");
                         PreparedStatement upd = c.prepareStatement("UPDATE counters SET n = n + 1 WHERE writer = ?")) {
                        ins.setInt(1, writer);
                        ins.setLong(2, seq);
                        ins.executeUpdate();
                        upd.setInt(1, writer);
                        upd.executeUpdate();
                    }
                    c.commit();
                    committed(writer, seq++);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                } catch (SQLException e) {
                    if ("23505".equals(e.getSQLState()) && e.getMessage().contains("_writer_seq_key")) {
                        // The previous attempt of this seq did commit; the client just did not hear it. (The index is the
                        // partition's: ledger_live_writer_seq_key.)
                        committed(writer, seq++);
                    } else if (!"25006".equals(e.getSQLState()) && !isConnectionProblem(e)) {
                        synchronized (unexpected) {
                            unexpected.add(e);
                        }
                    }
                    failedAttempts.incrementAndGet();
                    try {
                        if (c != null) {
                            c.close();
                        }
                    } catch (SQLException ignored) {
                        // the connection is gone anyway
                    }
                    c = null;
                    pause();
                }
            }
            try {
                if (c != null) {
                    c.close();
                }
            } catch (SQLException ignored) {
                // closing at the end
            }
        }

        private static boolean isConnectionProblem(SQLException e) {
            String state = e.getSQLState();
            return state == null || state.startsWith("08") || state.startsWith("57P");
        }

        private void committed(int writer, long seq) {
            long now = System.nanoTime();
            synchronized (confirmed) {
                confirmed.add(key(writer, seq));
                longestGapNanos.accumulateAndGet(now - lastCommit, Math::max);
                lastCommit = now;
            }
            commits.incrementAndGet();
        }

        private static void pause() {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        long commits() {
            return commits.get();
        }

        /** Waits until {@code n} more commits succeeded. */
        void awaitMoreCommits(long n) throws InterruptedException {
            long goal = commits.get() + n;
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (commits.get() < goal) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("writers made no progress: " + commits.get() + " of " + goal
                            + " commits, " + failedAttempts.get() + " failed attempts");
                }
                Thread.sleep(5);
            }
        }

        /** Forgets the gap so far, so the longest gap measures only what follows. */
        void resetGap() {
            synchronized (confirmed) {
                lastCommit = System.nanoTime();
                longestGapNanos.set(0);
            }
        }

        long longestGapMillis() {
            return longestGapNanos.get() / 1_000_000;
        }

        long failedAttempts() {
            return failedAttempts.get();
        }

        Set<Long> confirmed() {
            synchronized (confirmed) {
                return new HashSet<>(confirmed);
            }
        }

        @Override
        public void close() {
            running.set(false);
            Fixtures.joinAll(threads);
            if (!unexpected.isEmpty()) {
                throw new AssertionError("a writer saw an unexpected error", unexpected.get(0));
            }
        }
    }
}
