package io.pgmigrate.core.it;

import io.pgmigrate.testkit.Pacer;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The JVM that applies the stream is killed (SIGKILL) again and again at random points while writers commit; a new
 * one resumes each time. Every committed source transaction is on the target exactly once: {@code ticks} has no key,
 * so a transaction applied twice leaves duplicate rows and a lost one leaves a gap; {@code counters} is incremented in
 * the same transactions. It caught the applier recording its position as replication-origin progress: PostgreSQL
 * advances an origin also when the transaction aborts, so a JVM killed between {@code pg_replication_origin_xact_setup}
 * and {@code COMMIT} left the position past a group of rows that was rolled back.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class StreamCrashIT {

    private static final Duration LIMIT = Duration.ofMinutes(2);

    @Test
    void aJvmKilledWhileApplyingLosesNoTransactionAndAppliesNoneTwice(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "crashes";
        for (PostgresServer s : List.of(source, target)) {
            s.createDatabase(db);
            s.execute(db, """
                    CREATE TABLE ticks (writer integer NOT NULL, n integer NOT NULL);
                    CREATE TABLE counters (id integer PRIMARY KEY, n bigint NOT NULL);
                    CREATE TABLE markers (name text PRIMARY KEY);
                    INSERT INTO counters SELECT g, 0 FROM generate_series(1, 50) g;
                    """);
        }
        source.execute(db, "CREATE PUBLICATION pub FOR ALL TABLES");
        source.execute(db, "SELECT pg_create_logical_replication_slot('crash_slot', 'pgoutput')");

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong commits = new AtomicLong();
        AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        List<Thread> writers = new ArrayList<>();
        for (int id = 1; id <= 2; id++) {
            int writer = id;
            Thread t = new Thread(() -> {
                Random random = new Random(writer);
                try (Connection c = source.connect(db);
                     PreparedStatement tick = c.prepareStatement("INSERT INTO ticks SELECT ?, n FROM"
                             + " generate_series(?, ?) n");
                     PreparedStatement count = c.prepareStatement("UPDATE counters SET n = n + 1 WHERE id = ?")) {
                    c.setAutoCommit(false);
                    Pacer pacer = Pacer.perSecond(200);
                    int n = 0;
                    while (!stop.get()) {
                        pacer.await();
                        int rows = 1 + random.nextInt(4);
                        tick.setInt(1, writer);
                        tick.setInt(2, n);
                        tick.setInt(3, n + rows - 1);
                        tick.executeUpdate();
                        count.setInt(1, 1 + random.nextInt(50));
                        count.executeUpdate();
                        c.commit();
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

        Random random = new Random(7);
        for (int kill = 0; kill < 5; kill++) {
            long before = Fixtures.count(target, db, "SELECT count(*) FROM ticks");
            long wanted = before + 1 + random.nextInt(400); // a different point of the stream each time
            Process child = startChild(source, target, state, db, "kill-" + kill);
            try {
                awaitStreaming(state, "kill-" + kill);
                long deadline = System.nanoTime() + LIMIT.toNanos();
                while (Fixtures.count(target, db, "SELECT count(*) FROM ticks") < wanted) {
                    assertThat(System.nanoTime()).as("progress before kill " + kill).isLessThan(deadline);
                    assertThat(writerFailed.get()).isNull();
                    Thread.sleep(5);
                }
            } finally {
                child.destroyForcibly(); // SIGKILL: no shutdown hook, no clean close of anything
                child.waitFor();
            }
        }
        stop.set(true);
        Fixtures.joinAll(writers);
        assertThat(writerFailed.get()).isNull();
        assertThat(commits.get()).isPositive();
        source.execute(db, "INSERT INTO markers VALUES ('writers stopped')");

        Process last = startChild(source, target, state, db, "last");
        try {
            awaitStreaming(state, "last");
            long deadline = System.nanoTime() + LIMIT.toNanos();
            while (Fixtures.count(target, db, "SELECT count(*) FROM markers") == 0) {
                assertThat(System.nanoTime()).as("the marker on the target").isLessThan(deadline);
                Thread.sleep(20);
            }
        } finally {
            last.destroyForcibly();
            last.waitFor();
        }
        assertThat(Fixtures.count(target, db, "SELECT count(*) FROM (SELECT writer, n FROM ticks GROUP BY 1, 2"
                + " HAVING count(*) > 1) twice")).as("ticks applied twice").isZero();
        for (String table : List.of("public.ticks", "public.counters")) {
            assertThat(Fixtures.fingerprint(target, db, table)).as(table)
                    .isEqualTo(Fixtures.fingerprint(source, db, table));
        }
        assertThat(Fixtures.count(target, db, "SELECT sum(n) FROM counters")).as("one increment per commit")
                .isEqualTo(commits.get());
    }

    /** Waits until the child's log (its standard output) says it streams. */
    private static void awaitStreaming(Path state, String name) throws Exception {
        Path log = state.resolve("child-" + name + ".log");
        long deadline = System.nanoTime() + LIMIT.toNanos();
        while (Files.readString(log).lines().noneMatch(StreamingWorker.STREAMING::equals)) {
            assertThat(System.nanoTime()).as("child " + name + " streaming; its log:\n" + Files.readString(log))
                    .isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    private static Process startChild(PostgresServer source, PostgresServer target, Path state, String db,
                                      String name) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                StreamingWorker.class.getName(), source.host(), Integer.toString(source.port()), target.host(),
                Integer.toString(target.port()), source.superuser(), db, "crash_slot", "pgmigrate_crash", "pub",
                Integer.toString(source.majorVersion()), "3");
        // its log goes to a file: a pipe nobody reads once it streams would fill and stop the child's logging threads
        pb.redirectErrorStream(true);
        pb.redirectOutput(state.resolve("child-" + name + ".log").toFile());
        return pb.start();
    }
}
