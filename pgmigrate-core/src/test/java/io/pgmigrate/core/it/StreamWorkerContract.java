package io.pgmigrate.core.it;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.replication.stream.LogicalStream;
import io.pgmigrate.core.internal.replication.stream.StreamWorker;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.testkit.Pacer;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The STREAM engine's reader and applier against real servers: what the source commits arrives on the target, every
 * type family in its own form, unchanged TOASTed values kept, and a stream broken at any point starts again where the
 * target's committed position says, with nothing lost and nothing applied twice.
 */
abstract class StreamWorkerContract {

    private static final Duration LIMIT = Duration.ofMinutes(2);

    /** Small groups, so the backlogs below are cut into many and connections apply them at once. */
    private static final int GROUP_CHANGES = 300;

    /** The tables every test replicates; types that exist only on newer sources are added by the subclasses. */
    private static final String SCHEMA = """
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
            CREATE TYPE address AS (street text, zip text);
            CREATE TABLE kinds (
                id bigint PRIMARY KEY,
                n numeric(20, 6), f float8, r real, i2 smallint, bo boolean,
                ts timestamp, tstz timestamptz, d date, t time, ttz timetz, iv interval,
                ints integer[], texts text[], nested integer[][], rng int4range, tsr tstzrange, dr daterange,
                j json, jb jsonb, b bytea, u uuid, ip inet, net cidr, mac macaddr, bits bit varying(16),
                m mood, p positive, a address, moods mood[], pt point, c char(3), v varchar(10), tsv tsvector);
            CREATE TABLE docs (id integer PRIMARY KEY, title text NOT NULL, body text);
            ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
            CREATE TABLE events (at timestamptz NOT NULL, kind text NOT NULL, payload jsonb);
            ALTER TABLE events REPLICA IDENTITY FULL;
            CREATE SCHEMA "Odd Schema";
            CREATE TABLE "Odd Schema"."Mixed Case" ("Key" integer PRIMARY KEY, "va""lue" text);
            CREATE TABLE ticks (writer integer NOT NULL, n integer NOT NULL);
            CREATE TABLE markers (name text PRIMARY KEY);
            CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, note text);
            CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, seat text NOT NULL,
                                  serial integer GENERATED ALWAYS AS IDENTITY (START 500) UNIQUE);
            CREATE TABLE readings (at date NOT NULL, sensor integer NOT NULL, value numeric, PRIMARY KEY (at, sensor))
                PARTITION BY RANGE (at);
            CREATE TABLE readings_2026 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            CREATE TABLE readings_2027 PARTITION OF readings FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
            CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL, email text NOT NULL UNIQUE);
            """;

    private static final List<String> TABLES = List.of("public.kinds", "public.docs", "public.events",
            "\"Odd Schema\".\"Mixed Case\"", "public.ticks", "public.markers", "public.accounts",
            "public.orders", "public.readings", "public.tickets");

    /** Target connections the worker applies on. */
    abstract int workers();

    /** Columns of types that only newer sources have, added to {@code kinds}; empty for none. */
    String newerKinds() {
        return "";
    }

    private static void prepare(PostgresServer source, PostgresServer target, String db, String extra) {
        for (PostgresServer s : List.of(source, target)) {
            s.createDatabase(db);
            s.execute(db, SCHEMA + extra);
        }
        // partitioned tables' changes as their root's where the source can (13+), as pgmigrate publishes them
        source.execute(db, "CREATE PUBLICATION pub FOR ALL TABLES"
                + (source.majorVersion() >= 13 ? " WITH (publish_via_partition_root = true)" : ""));
        source.execute(db, "SELECT pg_create_logical_replication_slot('" + db + "_slot', 'pgoutput')");
    }

    /**
     * Each worker leaves a replication origin per connection on the target, and a server keeps at most
     * {@code max_active_replication_origins} (40 on the testkit's servers) that have recorded progress: a class of
     * tests on one server pair ran out of them ("could not find free replication state slot"). The workers are closed
     * by now; an origin still in use is left for the next test's cleanup.
     */
    @AfterEach
    void dropTheWorkersOrigins(@Target PostgresServer target) throws SQLException {
        try (Connection c = target.connect("postgres"); var st = c.createStatement();
             var rs = st.executeQuery("SELECT roname FROM pg_replication_origin WHERE roname LIKE 'pgmigrate\\_%'")) {
            List<String> origins = new ArrayList<>();
            while (rs.next()) {
                origins.add(rs.getString(1));
            }
            for (String origin : origins) {
                try (PreparedStatement drop = c.prepareStatement("SELECT pg_replication_origin_drop(?)")) {
                    drop.setString(1, origin);
                    drop.execute();
                } catch (SQLException inUse) {
                    // a session still runs under it
                }
            }
        }
    }

    private StreamWorker worker(PostgresServer source, PostgresServer target, String db) {
        Connector s = new Connector(source.endpoint(), "source", Duration.ofSeconds(10), 3);
        Connector t = new Connector(target.endpoint(), "target", Duration.ofSeconds(10), 3);
        return StreamWorker.start(s, t, new StreamWorker.Settings(db, db + "_slot", "pgmigrate_" + db, "public.pgmigrate_stream_progress",
                new LogicalStream.Options("pub", source.majorVersion(), false), Duration.ofSeconds(10), workers(),
                GROUP_CHANGES));
    }

    /** Commits a marker row on the source and waits until the target has it: everything before it arrived. */
    private static void awaitMarker(PostgresServer source, PostgresServer target, String db, String name)
            throws Exception {
        source.execute(db, "INSERT INTO markers VALUES ('" + name + "')");
        long deadline = System.nanoTime() + LIMIT.toNanos();
        while (Fixtures.count(target, db, "SELECT count(*) FROM markers WHERE name = '" + name + "'") == 0) {
            assertThat(System.nanoTime()).as("marker " + name + " on the target within " + LIMIT).isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    private static void assertSame(PostgresServer source, PostgresServer target, String db) throws SQLException {
        for (String table : TABLES) {
            assertThat(Fixtures.fingerprint(target, db, table)).as(table)
                    .isEqualTo(Fixtures.fingerprint(source, db, table));
        }
    }

    @Test
    void everyKindOfChangeAndEveryTypeFamilyArrivesAsTheSourceCommittedIt(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "kinds";
        prepare(source, target, db, newerKinds());
        // the source's sessions print intervals as the SQL standard does, where "-1 2:03:04" means minus a day and
        // minus two hours; the target's read PostgreSQL's own style, where it would be a day back and two hours forward
        source.execute(db, "ALTER DATABASE " + db + " SET intervalstyle = 'sql_standard'");
        try (StreamWorker w = worker(source, target, db)) {
            source.execute(db, """
                    INSERT INTO kinds (id, n, f, r, i2, bo, ts, tstz, d, t, ttz, iv, ints, texts, nested, rng, tsr, dr,
                                       j, jb, b, u, ip, net, mac, bits, m, p, a, moods, pt, c, v, tsv)
                    SELECT g, g * 1.000001 - 500000, g / 7.0::float8, g / 3.0::real, (g % 30000)::smallint, g % 2 = 0,
                           timestamp '2024-02-29 23:59:59.999999' + g * interval '1 minute',
                           timestamptz '1999-12-31 23:59:59.5+13:45' + g * interval '1 hour',
                           date '2000-02-29' + g, time '00:00:01' + g * interval '1 second', timetz '12:00:00-03:30',
                           make_interval(years => g % 3, days => g, secs => g / 1000.0),
                           ARRAY[g, NULL, -g], ARRAY['a "quoted" \\ back', NULL, 'ü €', ''], ARRAY[[1, 2], [3, g]],
                           int4range(g, g + 10, '(]'), tstzrange(now() - interval '1 day', NULL), daterange(NULL, '2030-01-01'),
                           ('{"k": ' || g || ', "a": [1, "x"], "dup": 1, "dup": 2}')::json,
                           ('{"k": ' || g || ', "nested": {"a": null}}')::jsonb,
                           decode(md5(g::text) || '00ff', 'hex'), md5(g::text)::uuid, '10.1.2.3/8', '10.0.0.0/8',
                           '08:00:2b:01:02:03', B'1011'::varbit,
                           (ARRAY['sad', 'ok', 'happy']::mood[])[1 + g % 3], 1 + g, ROW('Main St ' || g, NULL)::address,
                           ARRAY['happy', 'sad']::mood[], point(g, -g / 3.0), 'ab', 'v' || g,
                           to_tsvector('simple', 'the quick brown fox ' || g)
                    FROM generate_series(1, 300) g;
                    INSERT INTO kinds (id) VALUES (0);
                    INSERT INTO kinds (id, iv) VALUES (-1, interval '-1 day -2 hours -3 minutes -4.5 seconds'),
                                                      (-2, interval '-1 year +2 months -3 days +04:05:06');
                    INSERT INTO docs SELECT g, 'doc ' || g, repeat('body ', g) FROM generate_series(1, 50) g;
                    INSERT INTO events SELECT timestamptz '2026-01-01 00:00+00' + g * interval '1 s', 'k' || (g % 3),
                                              jsonb_build_object('g', g % 5) FROM generate_series(1, 60) g;
                    INSERT INTO events SELECT at, kind, payload FROM events WHERE kind = 'k0';
                    INSERT INTO "Odd Schema"."Mixed Case" SELECT g, 'v' || g FROM generate_series(1, 20) g;
                    INSERT INTO tickets (seat) SELECT 'row ' || g FROM generate_series(1, 40) g;
                    """);
            source.execute(db, """
                    UPDATE kinds SET n = -n, ints = ints || 7, jb = jb || '{"more": true}', m = 'ok' WHERE id % 5 = 0;
                    UPDATE kinds SET id = id + 1000 WHERE id BETWEEN 10 AND 20;
                    UPDATE kinds SET tsv = NULL, a = NULL, rng = 'empty' WHERE id = 1;
                    DELETE FROM kinds WHERE id % 7 = 0;
                    UPDATE events SET payload = payload || '{"seen": 1}' WHERE kind = 'k1';
                    DELETE FROM events WHERE kind = 'k0' AND at < timestamptz '2026-01-01 00:00:30+00';
                    UPDATE "Odd Schema"."Mixed Case" SET "va""lue" = NULL WHERE "Key" < 5;
                    DELETE FROM "Odd Schema"."Mixed Case" WHERE "Key" > 15;
                    UPDATE docs SET body = NULL WHERE id = 3;
                    UPDATE tickets SET seat = seat || ' (moved)' WHERE id % 3 = 0;
                    DELETE FROM tickets WHERE id % 10 = 0;
                    INSERT INTO tickets (seat) VALUES ('late');
                    """);
            source.execute(db, "TRUNCATE docs; INSERT INTO docs VALUES (1, 'after the truncate', 'x')");
            source.execute(db, """
                    INSERT INTO readings SELECT date '2026-12-30' + g % 5, g, g / 3.0 FROM generate_series(1, 50) g;
                    UPDATE readings SET value = -value WHERE sensor % 4 = 0;
                    UPDATE readings SET at = at + 1 WHERE sensor = 7;
                    DELETE FROM readings WHERE sensor % 9 = 0;
                    """);
            source.execute(db, "TRUNCATE readings");
            source.execute(db, "INSERT INTO readings VALUES ('2027-06-01', 1, 1.5), ('2026-06-01', 2, 2.5)");
            awaitMarker(source, target, db, "all written");
            // new sessions on the target (the comparison's) print intervals as the source's do
            target.execute(db, "ALTER DATABASE " + db + " SET intervalstyle = 'sql_standard'");
            assertSame(source, target, db);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM events WHERE kind = 'k0'"))
                    .as("of two equal rows without a key, a delete of one removes one").isEqualTo(
                            Fixtures.count(source, db, "SELECT count(*) FROM events WHERE kind = 'k0'"));
            assertThat(w.failure()).isEmpty();
            assertThat(Fixtures.text(target, db, "SELECT c || '|' || bits::text || '|' || v FROM kinds WHERE id = 2"))
                    .as("char(3), bit varying and varchar values keep their length").isEqualTo("ab|1011|v2");
        }
    }

    @Test
    void aToastedValueThatAnUpdateDidNotTouchKeepsItsValue(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "toast";
        prepare(source, target, db, "");
        try (StreamWorker w = worker(source, target, db)) {
            // 64 kB of hex that compresses little, stored out of line: an update of the title leaves it unsent
            source.execute(db, "INSERT INTO docs SELECT g, 'draft', (SELECT string_agg(md5(g::text || i::text), '')"
                    + " FROM generate_series(1, 2000) i) FROM generate_series(1, 3) g");
            awaitMarker(source, target, db, "inserted");
            source.execute(db, "UPDATE docs SET title = 'final' WHERE id IN (1, 2)");
            awaitMarker(source, target, db, "updated");
            assertThat(Fixtures.text(target, db, "SELECT string_agg(title || ':' || length(body) || ':' || md5(body),"
                    + " ',' ORDER BY id) FROM docs")).isEqualTo(Fixtures.text(source, db, "SELECT string_agg(title"
                    + " || ':' || length(body) || ':' || md5(body), ',' ORDER BY id) FROM docs"));
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM docs WHERE body IS NULL OR length(body) < 64000"))
                    .isZero();
        }
    }

    @Test
    void aStreamBrokenAgainAndAgainLosesNoTransactionAndAppliesNoneTwice(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "breaks";
        prepare(source, target, db, "");
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong commits = new AtomicLong();
        AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int id = 1; id <= 2; id++) {
            int writer = id;
            Thread t = new Thread(() -> {
                try (Connection c = source.connect(db);
                     PreparedStatement tick = c.prepareStatement("INSERT INTO ticks SELECT ?, n FROM"
                             + " generate_series(?, ?) n")) {
                    // ticks has no key: a transaction applied twice shows as duplicate rows, one lost as missing ones
                    int n = 0;
                    Pacer pacer = Pacer.perSecond(200);
                    while (!stop.get()) {
                        pacer.await();
                        int rows = 1 + n % 4;
                        tick.setInt(1, writer);
                        tick.setInt(2, n);
                        tick.setInt(3, n + rows - 1);
                        tick.executeUpdate();
                        n += rows;
                        commits.incrementAndGet();
                    }
                } catch (Throwable e) {
                    writerFailed.set(e);
                }
            }, "ticks-" + writer);
            writers.add(t);
            t.start();
        }
        try (StreamWorker w = worker(source, target, db)) {
            for (int round = 0; round < 6; round++) {
                long before = w.transactions();
                Lsn committed = w.committed();
                long deadline = System.nanoTime() + LIMIT.toNanos();
                // wait for progress in this round, then break the stream on one side or the other
                while (w.committed().compareTo(committed) <= 0 || w.transactions() == before) {
                    assertThat(System.nanoTime()).as("progress in round " + round).isLessThan(deadline);
                    Thread.sleep(10);
                }
                if (round % 2 == 0) {
                    source.execute(db, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
                            + " WHERE slot_name = '" + db + "_slot' AND active_pid IS NOT NULL");
                } else {
                    target.execute(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            + " WHERE datname = current_database() AND application_name = 'pgmigrate'"
                            + " AND pid <> pg_backend_pid()");
                }
            }
            stop.set(true);
            Fixtures.joinAll(writers);
            assertThat(writerFailed.get()).isNull();
            assertThat(commits.get()).isPositive();
            awaitMarker(source, target, db, "writers stopped");
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM (SELECT writer, n FROM ticks GROUP BY 1, 2"
                    + " HAVING count(*) > 1) twice")).as("ticks applied twice").isZero();
            assertSame(source, target, db);
        }
    }

    @Test
    void aSentinelMessageIsSeenOnlyOnceItsTransactionIsCommittedOnTheTarget(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        assumeTrue(source.majorVersion() >= 14, "pgoutput carries logical decoding messages from PostgreSQL 14 on");
        String db = "sentinel";
        prepare(source, target, db, "");
        try (StreamWorker w = worker(source, target, db)) {
            Lsn sentinel;
            try (Connection c = source.connect(db)) {
                c.setAutoCommit(false);
                try (var st = c.createStatement()) {
                    st.execute("INSERT INTO markers VALUES ('with the sentinel')");
                    // one that does not count: not transactional, and another prefix
                    st.execute("SELECT pg_logical_emit_message(false, 'pgmigrate', 'not transactional')");
                    st.execute("SELECT pg_logical_emit_message(true, 'other', 'another tool')");
                    try (var rs = st.executeQuery("SELECT pg_logical_emit_message(true, 'pgmigrate', 'cut')::text")) {
                        rs.next();
                        sentinel = Lsn.parse(rs.getString(1));
                    }
                    assertThat(w.awaitSentinel(sentinel, Duration.ofMillis(300))).as("not committed yet").isFalse();
                }
                c.commit();
            }
            assertThat(w.awaitSentinel(sentinel, LIMIT)).isTrue();
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM markers WHERE name = 'with the sentinel'"))
                    .as("the sentinel's transaction is on the target when the wait returns").isEqualTo(1);
        }
    }

    @Test
    void transactionsThatTouchTheSameRowsOrFreeAUniqueValueForALaterOneArriveAsCommitted(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "transfers";
        prepare(source, target, db, "");
        source.execute(db, "INSERT INTO accounts SELECT g, 1000, 'user' || g || '@example.com'"
                + " FROM generate_series(1, 20) g");
        AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            int writer = id;
            Thread t = new Thread(() -> {
                java.util.Random random = new java.util.Random(writer);
                try (Connection c = source.connect(db)) {
                    c.setAutoCommit(false);
                    Pacer pacer = Pacer.perSecond(150);
                    int n = 0;
                    while (n < 700) {
                        pacer.await();
                        int a = 1 + random.nextInt(20);
                        int b = 1 + (a + random.nextInt(19)) % 20;
                        try (var st = c.createStatement()) {
                            // twenty hot rows: most transactions touch a row an earlier one touched
                            st.execute("UPDATE accounts SET balance = balance - 7 WHERE id = " + a);
                            st.execute("UPDATE accounts SET balance = balance + 7 WHERE id = " + b);
                            if (n++ % 5 == 0) {
                                // one transaction frees an address, the next one takes it: the key differs, the
                                // unique value does not
                                st.execute("UPDATE accounts SET email = 'moved-" + writer + "-" + n + "@example.com'"
                                        + " WHERE id = " + a);
                            }
                            c.commit();
                            if (n % 5 == 1) {
                                st.execute("UPDATE accounts SET email = (SELECT 'user' || " + a + " || '@example.com')"
                                        + " WHERE id = " + b + " AND NOT EXISTS (SELECT 1 FROM accounts"
                                        + " WHERE email = 'user' || " + a + " || '@example.com')");
                                c.commit();
                            }
                        } catch (SQLException e) {
                            c.rollback(); // two writers raced for the same address or row order: try another
                            if (!"23505".equals(e.getSQLState()) && !"40P01".equals(e.getSQLState())) {
                                throw e;
                            }
                        }
                    }
                } catch (Throwable e) {
                    writerFailed.set(e);
                }
            }, "transfers-" + writer);
            writers.add(t);
            t.start();
        }
        // the stream starts once the writers are done: a backlog, applied as fast as the connections go
        Fixtures.joinAll(writers);
        assertThat(writerFailed.get()).isNull();
        try (StreamWorker w = worker(source, target, db)) {
            awaitMarker(source, target, db, "transfers done");
            assertSame(source, target, db);
            assertThat(Fixtures.count(target, db, "SELECT sum(balance) FROM accounts")).isEqualTo(20_000);
        }
    }

    @Test
    void aRowChangedByConsecutiveTransactionsIsChangedInTheirOrderWhateverConnectionAppliesThem(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "lifecycle";
        prepare(source, target, db, "");
        AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int id = 1; id <= 2; id++) {
            long base = id * 1_000_000L;
            Thread t = new Thread(() -> {
                try (Connection c = source.connect(db); var st = c.createStatement()) {
                    Pacer pacer = Pacer.perSecond(300);
                    // each order is inserted, paid and (every other one) deleted by three transactions in a row, so
                    // the stream's groups, cut between transactions, split these chains across connections
                    for (long n = base; n < base + 600; n++) {
                        pacer.await();
                        st.execute("INSERT INTO orders VALUES (" + n + ", 'new', NULL)");
                        pacer.await();
                        st.execute("UPDATE orders SET status = 'paid', note = 'by card' WHERE id = " + n);
                        if (n % 2 == 0) {
                            pacer.await();
                            st.execute("DELETE FROM orders WHERE id = " + n);
                        }
                    }
                } catch (Throwable e) {
                    writerFailed.set(e);
                }
            }, "orders-" + id);
            writers.add(t);
            t.start();
        }
        // the stream starts once the writers are done: a backlog, applied as fast as the connections go
        Fixtures.joinAll(writers);
        assertThat(writerFailed.get()).isNull();
        try (StreamWorker w = worker(source, target, db)) {
            awaitMarker(source, target, db, "orders done");
            assertSame(source, target, db);
            assertThat(w.inOrderStretches()).as("stretches applied again in order: a dependency was missed").isZero();
        }
    }

    @Test
    void aLargeTransactionStreamedWhileItRunsArrivesAtItsCommitWithoutItsAbortedPartsAndOneThatAbortsNever(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        assumeTrue(source.majorVersion() >= 14, "pgoutput streams running transactions from PostgreSQL 14 on");
        String db = "large";
        prepare(source, target, db, "");
        // the smallest setting: any transaction of more than 64 kB of changes is streamed while it runs
        source.execute(db, "ALTER SYSTEM SET logical_decoding_work_mem = '64kB'");
        source.execute(db, "SELECT pg_reload_conf()");
        try (StreamWorker w = worker(source, target, db);
             Connection large = source.connect(db); Connection small = source.connect(db)) {
            large.setAutoCommit(false);
            try (var st = large.createStatement(); var other = small.createStatement()) {
                // about 8 MB: more than the applier keeps in memory, so its spool goes to a file
                st.execute("INSERT INTO orders SELECT g, 'new', repeat('x', 400) FROM generate_series(1, 10000) g");
                other.execute("INSERT INTO orders VALUES (-1, 'committed while the large one runs', NULL)");
                st.execute("SAVEPOINT half");
                st.execute("INSERT INTO orders SELECT g, 'rolled back', repeat('y', 400)"
                        + " FROM generate_series(10001, 12000) g");
                st.execute("ROLLBACK TO SAVEPOINT half");
                st.execute("UPDATE orders SET status = 'paid' WHERE id % 2 = 0 AND id > 0");
                st.execute("INSERT INTO orders SELECT g, 'new', repeat('z', 400) FROM generate_series(12001, 20000) g");
                large.commit();
                st.execute("INSERT INTO orders SELECT g, 'never', repeat('n', 400) FROM generate_series(30001, 40000) g");
                large.rollback();
            }
            awaitMarker(source, target, db, "large done");
            assertSame(source, target, db);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders")).isEqualTo(18_001);
            // the walsender reports its statistics a little later
            long deadline = System.nanoTime() + LIMIT.toNanos();
            while (Fixtures.count(source, db, "SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots"
                    + " WHERE slot_name = '" + db + "_slot'") < 2) {
                assertThat(System.nanoTime()).as("two transactions the source streamed while they ran")
                        .isLessThan(deadline);
                Thread.sleep(50);
            }
        } finally {
            source.execute(db, "ALTER SYSTEM RESET logical_decoding_work_mem");
            source.execute(db, "SELECT pg_reload_conf()");
        }
    }

    @Test
    void whatTheSourceReceivedFromTheOtherDirectionIsNotSentBackButWhatCameFromElsewhereIs(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        // sources before 16 send every transaction, whatever its origin: the worker has to skip the ones the stream in
        // the other direction wrote (any connection of it: "back_loops", "back_loops_2" ...) and nothing else
        String db = "loops";
        prepare(source, target, db, "");
        boolean streams = source.majorVersion() >= 14;
        if (streams) {
            source.execute(db, "ALTER SYSTEM SET logical_decoding_work_mem = '64kB'");
            source.execute(db, "SELECT pg_reload_conf()");
        }
        source.execute(db, "SELECT pg_replication_origin_create(o) FROM unnest(ARRAY['back_loops', 'back_loops_2',"
                + " 'back_loopsy', 'upstream']) o");
        Connector s = new Connector(source.endpoint(), "source", Duration.ofSeconds(10), 3);
        Connector t = new Connector(target.endpoint(), "target", Duration.ofSeconds(10), 3);
        try (StreamWorker w = StreamWorker.start(s, t, new StreamWorker.Settings(db, db + "_slot", "pgmigrate_" + db,
                "public.pgmigrate_stream_progress", new LogicalStream.Options("pub", source.majorVersion(), false),
                Duration.ofSeconds(10), workers(), GROUP_CHANGES).withLoopOrigin("back_loops"))) {
            source.execute(db, "INSERT INTO orders VALUES (1, 'written here', NULL)");
            for (String origin : List.of("back_loops", "back_loops_2", "back_loopsy", "upstream")) {
                try (Connection c = source.connect(db); var st = c.createStatement()) {
                    st.execute("SELECT pg_replication_origin_session_setup('" + origin + "')");
                    st.execute("INSERT INTO orders SELECT 1000 * g + " + origin.length() + ", '" + origin + "', NULL"
                            + " FROM generate_series(1, 3) g");
                    st.execute("UPDATE orders SET note = 'touched by " + origin + "' WHERE id = 1");
                    if (streams) {
                        // large enough to be streamed while it runs: the origin comes in its first block
                        c.setAutoCommit(false);
                        st.execute("INSERT INTO orders SELECT g, '" + origin + " large', repeat('x', 400)"
                                + " FROM generate_series(100000 * " + origin.length() + ", 100000 * "
                                + origin.length() + " + 999) g");
                        c.commit();
                    }
                }
            }
            source.execute(db, "INSERT INTO orders VALUES (2, 'written here after', NULL)");
            awaitMarker(source, target, db, "loops done");
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders WHERE status IN ('back_loops', 'back_loops_2',"
                    + " 'back_loops large', 'back_loops_2 large')"))
                    .as("changes that came from the other direction").isZero();
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders WHERE status LIKE 'back_loopsy%'"
                    + " OR status LIKE 'upstream%'")).as("changes from origins that are not the other direction's")
                    .isEqualTo(streams ? 2 * 1003 : 2 * 3);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders WHERE id = 1"
                    + " AND note = 'touched by upstream'")).isEqualTo(1);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders WHERE id IN (1, 2)")).isEqualTo(2);
            if (streams) {
                long deadline = System.nanoTime() + LIMIT.toNanos();
                while (Fixtures.count(source, db, "SELECT coalesce(sum(stream_txns), 0) FROM pg_stat_replication_slots"
                        + " WHERE slot_name = '" + db + "_slot'") < 4) {
                    assertThat(System.nanoTime()).as("the four large transactions streamed while they ran")
                            .isLessThan(deadline);
                    Thread.sleep(50);
                }
            }
        } finally {
            if (streams) {
                source.execute(db, "ALTER SYSTEM RESET logical_decoding_work_mem");
                source.execute(db, "SELECT pg_reload_conf()");
            }
        }
    }

    @Test
    void aSchemaChangeIsAppliedAfterEveryChangeBeforeItAndBeforeEveryChangeAfterIt(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "ddl";
        prepareDdl(source, target, db);
        try (StreamWorker w = worker(source, target, db)) {
            awaitMarker(source, target, db, "rows there");
            for (int round = 0; round < 5; round++) {
                // a transaction larger than a group, so the change after it comes in a group of its own, likely on
                // another connection: written before the column is recreated, the rows would keep these values
                source.execute(db, "UPDATE orders SET note = 'before the drop " + round + "'");
                source.execute(db, "ALTER TABLE orders DROP COLUMN note");
                source.execute(db, "ALTER TABLE orders ADD COLUMN note text");
                source.execute(db, "UPDATE orders SET status = 'after " + round + "' WHERE id % 3 = 0");
                awaitMarker(source, target, db, "round " + round);
                assertThat(Fixtures.count(target, db, "SELECT count(*) FROM orders WHERE note IS NOT NULL"))
                        .as("rows with a value written before their column was dropped, round " + round).isZero();
                assertThat(Fixtures.fingerprint(target, db, "public.orders")).as("round " + round)
                        .isEqualTo(Fixtures.fingerprint(source, db, "public.orders"));
            }
            // in order the first time: not by failing and applying the stretch again change by change
            assertThat(w.failures()).as("failed rounds").isZero();
        }
    }

    /**
     * A connection that gets a change in a table's new shape (after {@code ADD COLUMN}) reads the target's columns for
     * it only once the group that applies the schema change is committed, on whichever connection that runs. CI once
     * saw the read overtake the commit: the round failed with "has no column". Here the schema change is held up on
     * the target by a lock the test keeps, while the next group, on another connection, writes the new column.
     */
    @Test
    void aTablesNewShapeIsReadOnlyAfterTheSchemaChangeThatMadeItIsCommitted(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        assumeTrue(workers() > 1, "needs a second connection");
        String db = "shape";
        prepareDdl(source, target, db);
        try (StreamWorker w = worker(source, target, db)) {
            awaitMarker(source, target, db, "rows there");
            try (Connection blocker = target.connect(db); var st = blocker.createStatement()) {
                blocker.setAutoCommit(false);
                st.execute("LOCK TABLE orders IN ACCESS SHARE MODE"); // ADD COLUMN waits for it
                // more changes than a group holds, then the schema change: the group ends with this transaction
                source.execute(db, "BEGIN; UPDATE orders SET status = 'seen';"
                        + " ALTER TABLE orders ADD COLUMN extra text; COMMIT");
                source.execute(db, "UPDATE orders SET extra = 'new shape' WHERE id % 3 = 0"); // the next group
                String sent = Fixtures.text(source, db, "SELECT pg_current_wal_lsn()::text");
                // (replayed by the trigger on the DDL queue's insert, which is what waits)
                await(() -> Fixtures.count(target, db, "SELECT count(*) FROM pg_stat_activity"
                        + " WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1,
                        "the schema change to wait for the lock on the target");
                await(() -> Fixtures.count(source, db, "SELECT count(*) FROM pg_stat_replication"
                        + " WHERE sent_lsn >= '" + sent + "'::pg_lsn") > 0, "the next group to be sent");
                // Read too early, the target's columns lack "extra" and the round fails within milliseconds. Well
                // inside the lanes' 5 s lock_timeout, so the schema change itself does not give up.
                long deadline = System.nanoTime() + Duration.ofSeconds(1).toNanos();
                while (w.failures() == 0 && System.nanoTime() < deadline) {
                    Thread.sleep(20); // watching for a failure that must not come
                }
                blocker.rollback();
            }
            awaitMarker(source, target, db, "new shape");
            assertThat(w.failures()).as("failed rounds").isZero();
            assertThat(Fixtures.fingerprint(target, db, "public.orders"))
                    .isEqualTo(Fixtures.fingerprint(source, db, "public.orders"));
        }
    }

    /**
     * Closing a worker ends its threads while a target connection is stuck in a statement (here a lock the test holds;
     * a network that stopped answering is the same to the worker) and the reader waits for that connection's full
     * queue. The reader used to wait there without looking at close(), and the round waited for the connection, so
     * close() gave up after 30 s with both threads alive: the stream could not be started again in that process, nor
     * a cutover pass its check that the stream stopped, until the lock went. Nothing the stuck connection held is lost
     * or applied twice: the next worker reads it again. On one connection, where no {@code lock_timeout} ends the wait
     * (a round on several gives up on the lock by itself, then applies the stretch in order on one, as here).
     */
    @Test
    void closingAWorkerEndsItsThreadsWhileATargetConnectionIsStuckAndTheNextAppliesWhatItHeld(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        assumeTrue(workers() == 1, "one connection waits on a lock without lock_timeout");
        String db = "stuck";
        prepare(source, target, db, "");
        try (Connection blocker = target.connect(db); var st = blocker.createStatement()) {
            blocker.setAutoCommit(false);
            st.execute("LOCK TABLE ticks IN ACCESS EXCLUSIVE MODE");
            StreamWorker w = worker(source, target, db);
            try {
                // one transaction of more changes than a connection holds before it writes them (50,000) and its
                // queue (32 batches of 256) together
                source.execute(db, "INSERT INTO ticks SELECT 1, g FROM generate_series(1, 80000) g");
                await(() -> lockWaits(target, db) == 1, "the worker's connection to wait for the lock");
                await(() -> readerWaitsOnAFullQueue(db), "the reader to wait for the connection's full queue");
            } finally {
                w.close();
            }
            assertThat(w.stopped()).as("the worker's thread ended, the lock still held").isTrue();
            assertThat(Thread.getAllStackTraces().keySet()).as("apply threads left")
                    .noneMatch(t -> t.getName().startsWith("pgmigrate-apply-" + db + "-"));
            await(() -> lockWaits(target, db) == 0, "the stuck statement to end on the target");
            blocker.rollback();
        }
        try (StreamWorker next = worker(source, target, db)) {
            awaitMarker(source, target, db, "after the stuck one");
            assertThat(next.failures()).as("failed rounds").isZero();
        }
        assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ticks")).isEqualTo(80_000);
        assertSame(source, target, db);
    }

    /**
     * A COMMIT that waits for the target's synchronous standby is not cancelled by close(): PostgreSQL would end the
     * wait with the transaction "committed locally", the next round would read its position and confirm it to the
     * source, and a failover to that standby would lose the rows. The worker says it has not stopped while it waits
     * (so no cutover goes on), and stops once the commit ends; nothing is applied twice.
     */
    @Test
    void closingAWorkerLeavesACommitThatWaitsForTheTargetsSynchronousStandby(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        assumeTrue(workers() == 1, "one commit in flight is the case; more connections add nothing");
        String db = "syncwait";
        prepare(source, target, db, "");
        StreamWorker w = worker(source, target, db);
        try {
            awaitMarker(source, target, db, "open"); // the worker's set-up commits are done
            // a synchronous standby that never answers: every commit on the target waits from now on
            target.execute("postgres", "ALTER SYSTEM SET synchronous_standby_names = 'nobody_answers'");
            target.execute("postgres", "SELECT pg_reload_conf()");
            source.execute(db, "INSERT INTO ticks SELECT 1, g FROM generate_series(1, 100) g");
            await(() -> Fixtures.count(target, db, "SELECT count(*) FROM pg_stat_activity"
                    + " WHERE datname = current_database() AND wait_event = 'SyncRep'") == 1,
                    "the worker's commit to wait for the standby");
            w.close(); // waits 30 s, then says the worker has not stopped
            assertThat(w.stopped()).as("stopped while its commit waits for the standby").isFalse();
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ticks"))
                    .as("rows of a commit no standby confirmed, visible").isZero();
        } finally {
            target.execute("postgres", "ALTER SYSTEM RESET synchronous_standby_names");
            target.execute("postgres", "SELECT pg_reload_conf()");
        }
        await(w::stopped, "the worker to stop once its commit ended");
        try (StreamWorker next = worker(source, target, db)) {
            awaitMarker(source, target, db, "after the standby");
        }
        assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ticks")).isEqualTo(100);
        assertSame(source, target, db);
    }

    private static long lockWaits(PostgresServer target, String db) throws SQLException {
        return Fixtures.count(target, db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                + " AND wait_event_type = 'Lock'");
    }

    /** Whether the worker's thread (the stream's reader) waits to hand a connection a batch its queue has no room for. */
    private static boolean readerWaitsOnAFullQueue(String db) {
        return Thread.getAllStackTraces().entrySet().stream()
                .filter(e -> e.getKey().getName().equals("pgmigrate-stream-" + db))
                .map(e -> java.util.Arrays.stream(e.getValue()).map(f -> f.getClassName() + "." + f.getMethodName())
                        .toList())
                .anyMatch(frames -> frames.contains("java.util.concurrent.ArrayBlockingQueue.offer")
                        && frames.stream().anyMatch(f -> f.endsWith(".ParallelRound.hand")));
    }

    /** The DDL capture on both sides, and a publication that carries its queue as pgmigrate's does; 400 orders. */
    private static void prepareDdl(PostgresServer source, PostgresServer target, String db) throws Exception {
        String schema = "pgmigrate_t_ddl_" + db;
        for (var side : List.of(java.util.Map.entry(source, "source"), java.util.Map.entry(target, "target"))) {
            side.getKey().createDatabase(db);
            side.getKey().execute(db, SCHEMA);
            for (String sql : io.pgmigrate.core.internal.ddl.DdlCarry.objects(schema, side.getValue(), "pub",
                    "no_fence", source.majorVersion() >= 13, false)) {
                side.getKey().execute(db, sql);
            }
        }
        source.execute(db, "CREATE PUBLICATION pub FOR TABLE orders, markers, " + schema + ".queue"
                + (source.majorVersion() >= 13 ? " WITH (publish_via_partition_root = true)" : ""));
        source.execute(db, "SELECT pg_create_logical_replication_slot('" + db + "_slot', 'pgoutput')");
        source.execute(db, "ALTER EVENT TRIGGER " + schema + " ENABLE");
        // the sql_drop trigger: the schema's name with its last letter made a "d"
        source.execute(db, "ALTER EVENT TRIGGER " + schema.substring(0, schema.length() - 1) + "d ENABLE");
        source.execute(db, "INSERT INTO orders SELECT g, 'new', 'first' FROM generate_series(1, 400) g");
    }

    @Test
    void aWorkerOnFewerConnectionsThanTheLastStartsAfterEverythingAnyOfThemCommitted(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "fewer";
        prepare(source, target, db, "");
        // a second slot at the same point, which the second worker reads: the server would not send again what the
        // first worker confirmed on its own slot, so only the progress table tells the second where to start (as
        // after a crash between a commit and its confirmation)
        source.execute(db, "SELECT pg_create_logical_replication_slot('" + db + "_second', 'pgoutput')");
        // a backlog, so the last group is as likely on any connection as on the first
        source.execute(db, "INSERT INTO ticks SELECT 1, g FROM generate_series(1, 20) g");
        for (int n = 0; n < 200; n++) {
            source.execute(db, "INSERT INTO ticks SELECT 2, " + n);
        }
        try (StreamWorker w = worker(source, target, db)) {
            awaitMarker(source, target, db, "first worker");
        }
        source.execute(db, "INSERT INTO ticks SELECT 3, g FROM generate_series(1, 10) g");
        Connector s = new Connector(source.endpoint(), "source", Duration.ofSeconds(10), 3);
        Connector t = new Connector(target.endpoint(), "target", Duration.ofSeconds(10), 3);
        try (StreamWorker one = StreamWorker.start(s, t, new StreamWorker.Settings(db, db + "_second", "pgmigrate_" + db,
                "public.pgmigrate_stream_progress", new LogicalStream.Options("pub", source.majorVersion(), false),
                Duration.ofSeconds(10), 1, GROUP_CHANGES))) {
            awaitMarker(source, target, db, "second worker");
        }
        assertThat(Fixtures.count(target, db, "SELECT count(*) FROM (SELECT writer, n FROM ticks GROUP BY 1, 2"
                + " HAVING count(*) > 1) twice")).as("ticks applied twice").isZero();
        assertSame(source, target, db);
    }

    /** Waits, up to the contract's limit, until {@code condition} holds. */
    private static void await(java.util.concurrent.Callable<Boolean> condition, String what) throws Exception {
        long deadline = System.nanoTime() + LIMIT.toNanos();
        while (!condition.call()) {
            assertThat(System.nanoTime()).as(what + " within " + LIMIT).isLessThan(deadline);
            Thread.sleep(20);
        }
    }
}
