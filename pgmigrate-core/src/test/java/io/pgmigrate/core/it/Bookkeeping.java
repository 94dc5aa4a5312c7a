package io.pgmigrate.core.it;

import io.pgmigrate.testkit.Pacer;
import io.pgmigrate.testkit.PostgresServer;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A bookkeeping database for the initial copy's proofs, with every shape the copy must carry: a large keyed table,
 * a table without any key, a partitioned table, TOAST-sized values, a dropped and a generated column, an enum, a
 * domain and an array of the enum (which the copy moves as text), and foreign keys. Writers change it at a bounded
 * rate while the copy runs. Nothing here calls pgmigrate.
 */
final class Bookkeeping {

    /** Every table, as the hash and the fingerprints name it. */
    static final List<String> TABLES = List.of("public.accounts", "public.entries", "public.audit_log",
            "public.readings", "public.documents", "public.transfers");

    private Bookkeeping() {
    }

    static void create(PostgresServer server, String db, int entries) throws SQLException {
        server.createDatabase(db);
        try (Connection c = server.connect(db); Statement s = c.createStatement()) {
            s.execute("""
                    CREATE TYPE entry_kind AS ENUM ('debit', 'credit', 'fee');
                    CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0);
                    CREATE TABLE accounts (id int PRIMARY KEY, holder text NOT NULL, opened date NOT NULL);
                    CREATE TABLE entries (id bigint PRIMARY KEY, account int NOT NULL,
                                          amount bigint NOT NULL, booked timestamptz NOT NULL, memo text);
                    CREATE TABLE audit_log (at timestamptz NOT NULL, actor text, action text, detail jsonb);
                    ALTER TABLE audit_log REPLICA IDENTITY FULL;
                    CREATE TABLE readings (sensor int NOT NULL, at timestamptz NOT NULL, value double precision,
                                           PRIMARY KEY (sensor, at)) PARTITION BY RANGE (at);
                    CREATE TABLE readings_2025 PARTITION OF readings
                        FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
                    CREATE TABLE readings_2026 PARTITION OF readings
                        FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
                    CREATE TABLE documents (id int PRIMARY KEY, title text NOT NULL, body text);
                    CREATE TABLE transfers (id int PRIMARY KEY, kind entry_kind NOT NULL, amount cents,
                                            tags entry_kind[], legacy_code text, note text,
                                            doubled bigint GENERATED ALWAYS AS (amount * 2) STORED);
                    ALTER TABLE transfers DROP COLUMN legacy_code;
                    """);
            s.execute("INSERT INTO accounts SELECT g, 'holder ' || g, date '2020-01-01' + g FROM generate_series(1, 1000) g");
            for (int from = 1; from <= entries; from += 500_000) {
                s.execute("INSERT INTO entries SELECT g, 1 + g % 1000, g % 100000,"
                        + " timestamptz '2025-01-01' + g * interval '1 second', 'entry ' || g"
                        + " FROM generate_series(" + from + ", " + Math.min(entries, from + 499_999) + ") g");
            }
            // after the rows, as a restore does: a foreign key checked row by row and an index kept up per row made
            // this the slowest part of the suite's largest test (about 35 s for 2,000,000 rows)
            s.execute("""
                    ALTER TABLE entries ADD CONSTRAINT entries_account_fkey FOREIGN KEY (account) REFERENCES accounts;
                    CREATE INDEX entries_account_idx ON entries (account, booked);
                    """);
            s.execute("""
                    INSERT INTO audit_log SELECT timestamptz '2025-01-01' + (g % 5000) * interval '1 minute',
                           'user' || (g % 7), CASE WHEN g % 3 = 0 THEN NULL ELSE 'login' END,
                           jsonb_build_object('n', g % 5000)
                    FROM generate_series(1, 20000) g;
                    INSERT INTO readings SELECT 1 + g % 20, timestamptz '2025-06-01' + g * interval '10 minutes',
                           g / 3.0 FROM generate_series(1, 40000) g;
                    INSERT INTO documents SELECT g, 'document ' || g,
                           (SELECT string_agg(md5(g::text || '.' || i), '') FROM generate_series(1, 900) i)
                    FROM generate_series(1, 200) g;
                    INSERT INTO transfers (id, kind, amount, tags, note)
                    SELECT g, (ARRAY['debit', 'credit', 'fee']::entry_kind[])[1 + g % 3], g * 10,
                           ARRAY['fee', 'debit']::entry_kind[], CASE WHEN g % 4 = 0 THEN NULL ELSE 'Grüße ' || g END
                    FROM generate_series(1, 5000) g;
                    """);
            s.execute("VACUUM ANALYZE");
        }
    }

    /**
     * Row count and an order-independent 60-bit hash sum of every row's text, computed by the server: equal on both
     * sides exactly when the rows are equal (as a multiset, which is what a table without a key has).
     */
    static String hash(PostgresServer server, String db, String table) throws SQLException {
        return Fixtures.text(server, db, "SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(hashed_row::text), 1, 15))"
                + "::bit(60)::bigint), 0) FROM " + table + " AS hashed_row");
    }

    /** How many rows of {@code table} each transaction wrote: unchanged exactly when no row was written again. */
    static Map<String, Long> rowsPerTransaction(PostgresServer server, String db, String table) throws SQLException {
        Map<String, Long> out = new LinkedHashMap<>();
        try (Connection c = server.connect(db); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT xmin::text, count(*) FROM " + table + " GROUP BY 1 ORDER BY 1")) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
        }
        return out;
    }

    /** Writers inserting, updating and deleting across the tables until closed, each at 50 commits a second. */
    static final class Writers implements AutoCloseable {

        private final AtomicBoolean running = new AtomicBoolean(true);
        private final AtomicLong commits = new AtomicLong();
        private final AtomicLong nextId = new AtomicLong(100_000_000);
        private final List<Thread> threads = new ArrayList<>();
        private final List<Throwable> failures = new ArrayList<>();

        Writers(PostgresServer server, String db, int threadCount, long maxEntry) {
            for (int i = 0; i < threadCount; i++) {
                Thread t = new Thread(() -> run(server, db, maxEntry), "writer-" + db + "-" + i);
                threads.add(t);
                t.start();
            }
        }

        private void run(PostgresServer server, String db, long maxEntry) {
            try (Connection c = server.connect(db); Statement s = c.createStatement()) {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                Pacer pacer = Pacer.perSecond(50);
                while (running.get()) {
                    pacer.await();
                    long id = 1 + r.nextLong(maxEntry);
                    switch (r.nextInt(8)) {
                        case 0 -> s.execute("INSERT INTO entries VALUES (" + nextId.incrementAndGet() + ", "
                                + (1 + r.nextInt(1000)) + ", 7, now(), 'live')");
                        case 1 -> s.execute("UPDATE entries SET amount = amount + 1, memo = memo || '+' WHERE id = "
                                + id);
                        case 2 -> s.execute("DELETE FROM entries WHERE id = " + id);
                        case 3 -> s.execute("INSERT INTO audit_log VALUES (now(), 'writer', 'change', '{\"w\": 1}')");
                        case 4 -> s.execute("DELETE FROM audit_log WHERE ctid = (SELECT ctid FROM audit_log"
                                + " WHERE actor = 'user" + r.nextInt(7) + "' LIMIT 1)");
                        case 5 -> s.execute("UPDATE documents SET body = body || md5(random()::text) WHERE id = "
                                + (1 + r.nextInt(200)));
                        case 6 -> s.execute("INSERT INTO readings VALUES (" + (100 + r.nextInt(1000)) + ", "
                                + "timestamptz '2026-02-01' + " + r.nextInt(1_000_000) + " * interval '1 second', 1)"
                                + " ON CONFLICT DO NOTHING");
                        default -> s.execute("UPDATE transfers SET amount = amount + 1, kind = 'fee',"
                                + " tags = tags || 'credit'::entry_kind WHERE id = " + (1 + r.nextInt(5000)));
                    }
                    commits.incrementAndGet();
                }
            } catch (Throwable e) {
                synchronized (failures) {
                    failures.add(e);
                }
            }
        }

        long commits() {
            return commits.get();
        }

        @Override
        public void close() {
            running.set(false);
            Fixtures.joinAll(threads);
            if (!failures.isEmpty()) {
                throw new AssertionError("a writer failed", failures.get(0));
            }
        }
    }
}
