package io.pgmigrate.core.it;

import io.pgmigrate.KeyRange;
import io.pgmigrate.Migration;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.Pacer;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Rows changed on the target behind the stream's back are found, exactly those ranges, while a writer keeps writing
 * on the source and the stream is held behind on purpose; repair() copies exactly those ranges again while the writer
 * goes on, and verification then passes; a whole table is copied again the same way; after a cutover both go the other
 * way.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class RepairIT {

    private static final String SCHEMA = """
            CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, amount numeric(12,2) NOT NULL,
                                 note text, placed timestamptz NOT NULL DEFAULT now(),
                                 total numeric GENERATED ALWAYS AS (amount * 1.2) STORED);
            INSERT INTO orders (id, customer, amount, note, placed)
            SELECT g, g % 997, (g % 5000) / 7.0, 'order ' || g, timestamptz '2026-03-01' + g * interval '1 min'
            FROM generate_series(1, 300000) g;
            CREATE TABLE events (kind text, body text, at date);
            INSERT INTO events SELECT 'kind ' || (g % 7), repeat('e', g % 50), date '2026-01-01' + g % 200
            FROM generate_series(1, 4000) g;
            ALTER TABLE events REPLICA IDENTITY FULL;
            """;

    /** Rows the writer never touches: the test changes them on the target behind the stream's back. */
    private static final Set<Long> TAMPERED = Set.of(10L, 150_000L, 5_000_000L);

    @Test
    void differencesAreFoundExactlyAndRepairedWhileWritersWrite(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "repair";
        source.createDatabase(db);
        source.execute(db, SCHEMA);
        try (Migration m = CutoverContract.builder(source, target, state, db, db).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(3));

            target.execute(db, "SET session_replication_role = replica;"
                    + " UPDATE orders SET amount = 0.01 WHERE id = 10;"
                    + " DELETE FROM orders WHERE id = 150000;"
                    + " INSERT INTO orders (id, customer, amount) VALUES (5000000, 1, 1);"
                    + " DELETE FROM events WHERE ctid = (SELECT min(ctid) FROM events)");

            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong writes = new AtomicLong();
            java.util.concurrent.atomic.AtomicReference<Exception> failed = new java.util.concurrent.atomic.AtomicReference<>();
            Thread writer = new Thread(() -> write(source, db, stop, writes, failed), "writer");
            writer.start();
            try {
                // The stream held behind (its apply waits for a lock on the target) while the writer changes rows in
                // every range: each range's first reading differs, and only the rechecks at one position of both
                // sides tell the real differences from the writer's changes in flight.
                VerificationReport found;
                try (Connection held = target.connect(db); Statement st = held.createStatement()) {
                    held.setAutoCommit(false);
                    st.execute("LOCK TABLE orders IN SHARE MODE");
                    long before = writes.get();
                    await("the writer commits behind the held stream", () -> writes.get() >= before + 200);
                    CompletableFuture<VerificationReport> verifying = CompletableFuture.supplyAsync(m::verify);
                    await("verify() rechecks a range (events' or orders') under the source's lock", () -> verifying.isDone()
                            || Fixtures.count(source, db, "SELECT count(*) FROM pg_locks l JOIN pg_class c"
                            + " ON c.oid = l.relation WHERE c.relname IN ('orders', 'events') AND l.mode = 'ShareLock'"
                            + " AND l.granted") > 0);
                    assertThat(verifying).as("the stream is held: verify() cannot be done").isNotDone();
                    held.rollback();
                    found = verifying.get(4, TimeUnit.MINUTES);
                }
                assertThat(found.mismatches()).as(found.toText()).extracting(TableVerification::table)
                        .containsExactlyInAnyOrder("orders", "events");
                TableVerification orders = table(found, "orders");
                assertThat(orders.ranges()).isGreaterThanOrEqualTo(3);
                assertThat(orders.differingRanges()).as("exactly the ranges of the rows changed behind the stream")
                        .hasSize(3)
                        .allSatisfy(r -> assertThat(TAMPERED.stream().filter(id -> contains(r, id))).hasSize(1));
                assertThat(TAMPERED).allSatisfy(id -> assertThat(orders.differingRanges())
                        .anySatisfy(r -> assertThat(contains(r, id)).isTrue()));
                assertThat(table(found, "events").differingRanges()).containsExactly(KeyRange.all());
                assertThat(found.toText()).contains("DIFFERENT  repair.public.orders").contains("differs in key range");

                long beforeRepair = writes.get();
                VerificationReport repaired = m.repair(found);
                assertThat(repaired.matches()).as(repaired.toText()).isTrue();
                assertThat(table(repaired, "orders").ranges()).as("only the differing ranges are copied").isEqualTo(3);
                await("the writer goes on after the repair", () -> writes.get() >= beforeRepair + 100);
                VerificationReport after = m.verify();
                assertThat(after.matches()).as(after.toText()).isTrue();

                // a whole table copied again, range by range, while the writer writes
                target.execute(db, "SET session_replication_role = replica;"
                        + " UPDATE orders SET note = 'changed' WHERE id IN (10, 120000, 250000);"
                        + " DELETE FROM orders WHERE id = 200000");
                VerificationReport resynced = m.repair(db, "public", "orders");
                assertThat(resynced.matches()).as(resynced.toText()).isTrue();
                assertThat(table(resynced, "orders").ranges()).isEqualTo(orders.ranges());
            } finally {
                stop.set(true);
                writer.join();
            }
            assertThat(failed.get()).as("the writer's failure").isNull();
            assertThat(writes.get()).isGreaterThan(300);
            m.awaitInSync(Duration.ofMinutes(3));
            VerificationReport quiet = m.verify();
            assertThat(quiet.matches()).as(quiet.toText()).isTrue();
            assertThat(Fixtures.fingerprint(target, db, "orders")).isEqualTo(Fixtures.fingerprint(source, db, "orders"));

            // after a cutover the stream runs from the target: the source is the side that is repaired
            m.cutover();
            source.execute(db, "SET session_replication_role = replica; DELETE FROM orders WHERE id = 77");
            target.execute(db, "UPDATE orders SET note = 'after the cutover' WHERE id = 299999");
            VerificationReport back = m.verify();
            assertThat(back.mismatches()).extracting(TableVerification::table).containsExactly("orders");
            assertThat(table(back, "orders").differingRanges()).singleElement()
                    .satisfies(r -> assertThat(contains(r, 77)).isTrue());
            assertThat(m.repair(back).matches()).isTrue();
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM orders WHERE id = 77")).isEqualTo(1);
            assertThat(Fixtures.fingerprint(source, db, "orders")).isEqualTo(Fixtures.fingerprint(target, db, "orders"));
            m.complete();
        }
    }

    /** Commits 100 changes a second to orders on the source: updates and deletes of random rows, and new rows. */
    private static void write(PostgresServer source, String db, AtomicBoolean stop, AtomicLong writes,
                              java.util.concurrent.atomic.AtomicReference<Exception> failed) {
        Pacer pacer = Pacer.perSecond(100);
        long next = 1_000_000;
        try (Connection c = source.connect(db);
             PreparedStatement update = c.prepareStatement(
                     "UPDATE orders SET amount = amount + 1, note = 'updated' WHERE id = ?");
             PreparedStatement delete = c.prepareStatement("DELETE FROM orders WHERE id = ?");
             PreparedStatement insert = c.prepareStatement(
                     "INSERT INTO orders (id, customer, amount, note) VALUES (?, 7, 9.99, 'new')")) {
            while (!stop.get()) {
                pacer.await();
                long id = ThreadLocalRandom.current().nextLong(1, 300_001);
                if (TAMPERED.contains(id) || id == 77 || id == 200_000 || id == 120_000 || id == 250_000) {
                    continue;
                }
                int kind = ThreadLocalRandom.current().nextInt(10);
                PreparedStatement s = kind < 7 ? update : kind < 8 ? delete : insert;
                s.setLong(1, kind < 8 ? id : next++);
                s.executeUpdate();
                writes.incrementAndGet();
            }
        } catch (Exception e) {
            failed.set(e);
        }
    }

    private static TableVerification table(VerificationReport report, String name) {
        return report.tables().stream().filter(t -> t.table().equals(name)).findFirst().orElseThrow();
    }

    /** Whether {@code id} is in {@code r}, a range of a bigint key. */
    private static boolean contains(KeyRange r, long id) {
        return (r.after() == null || id > Long.parseLong(r.after().get(0)))
                && (r.upTo() == null || id <= Long.parseLong(r.upTo().get(0)));
    }

    private interface Condition {
        boolean met() throws Exception;
    }

    private static void await(String what, Condition condition) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (!condition.met()) {
            assertThat(System.nanoTime()).as(what).isLessThan(deadline);
            TimeUnit.MILLISECONDS.sleep(20);
        }
    }
}
