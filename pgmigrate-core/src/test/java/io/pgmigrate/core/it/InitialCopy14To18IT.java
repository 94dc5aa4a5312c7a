package io.pgmigrate.core.it;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** From 14 on, large tables are split into ranges of pages, which PostgreSQL scans as such. */
@PostgresPair(source = 14, target = 18)
class InitialCopy14To18IT extends InitialCopyContract {

    private static final long RATE = 4L << 20;

    @Override
    int entries() {
        return 2_000_000;
    }

    /**
     * A chunk whose target session dies mid-COPY is copied again, alone, in the same snapshot: the chunks already on
     * the target keep their rows (written by the same transactions as before), and the rate limit holds throughout.
     */
    @Test
    void aChunkWhoseSessionDiesIsCopiedAgainAloneWithinTheRateLimit(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        Bookkeeping.create(source, "slow", 200_000);
        AtomicLong copiedBytes = new AtomicLong();
        AtomicLong streamingAt = new AtomicLong();
        MigrationListener listener = new MigrationListener() {
            @Override
            public void onProgress(MigrationStatus status) {
                long bytes = status.databases().get(0).tables().stream().mapToLong(t -> t.bytesCopied()).sum();
                copiedBytes.accumulateAndGet(bytes, Math::max);
            }

            @Override
            public void onPhase(String database, Phase phase) {
                if (phase == Phase.STREAMING) {
                    streamingAt.compareAndSet(0, System.nanoTime());
                }
            }
        };
        try (Migration m = Migration.builder().name("copy").source(source.endpoint()).target(target.endpoint())
                .databases("slow").stateDirectory(state).copyWorkers(1).copyPartSize(1L << 20)
                .copyRateLimit(RATE).progressInterval(Duration.ofMillis(50)).listener(listener).build()) {
            long started = System.nanoTime();
            m.start();
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (doneChunks(state, "copy.json", "entries") < 2) {
                assertThat(System.nanoTime()).as("two chunks of entries copied within 2 minutes").isLessThan(deadline);
                Thread.sleep(20);
            }
            Map<String, Long> before = Bookkeeping.rowsPerTransaction(target, "slow", "entries");
            assertThat(before).hasSizeGreaterThanOrEqualTo(2);
            // The worker's target session, inside a COPY of a later chunk.
            while (Fixtures.count(target, "slow", """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                    WHERE datname = 'slow' AND query LIKE 'COPY %FROM STDIN%' AND pid <> pg_backend_pid()
                    """) == 0) {
                assertThat(System.nanoTime()).as("a chunk copied within 2 minutes").isLessThan(deadline);
                Thread.sleep(5);
            }
            m.awaitInSync(Duration.ofMinutes(3));
            Map<String, Long> after = Bookkeeping.rowsPerTransaction(target, "slow", "entries");
            assertThat(after).as("the chunks done before the session died were not written again")
                    .containsAllEntriesOf(before);
            for (String table : Bookkeeping.TABLES) {
                assertThat(Bookkeeping.hash(target, "slow", table)).as(table)
                        .isEqualTo(Bookkeeping.hash(source, "slow", table));
            }
            double seconds = (streamingAt.get() - started) / 1e9;
            assertThat(copiedBytes.get()).isGreaterThan(8L << 20);
            // A slow machine only makes it slower; only a broken limit makes it faster.
            assertThat(seconds).as("copying " + copiedBytes.get() + " bytes at most " + RATE + " bytes/s")
                    .isGreaterThanOrEqualTo(copiedBytes.get() / (double) RATE - 1.0);
            m.complete();
        }
    }

    /**
     * A table split into page ranges that is rewritten on the source between two of its parts (VACUUM FULL moves its
     * rows to other pages) would lose rows to parts already copied, silently. The copy notices the rewrite before its
     * next part, stops with a message that says so, and start() goes on safely: every row arrives.
     */
    @Test
    void aTableRewrittenBetweenItsPartsStopsTheCopyAndStartGoesOnSafely(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        Bookkeeping.create(source, "rewritten", 200_000);
        // Dead rows all over the table, so VACUUM FULL moves the live ones to lower pages.
        try (java.sql.Connection c = source.connect("rewritten"); java.sql.Statement s = c.createStatement()) {
            s.execute("DELETE FROM entries WHERE id % 3 = 0");
        }
        try (Migration m = Migration.builder().name("rewrite").source(source.endpoint()).target(target.endpoint())
                .databases("rewritten").stateDirectory(state).copyWorkers(1).copyPartSize(1L << 20)
                .copyRateLimit(RATE).build()) {
            m.start();
            long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (doneChunks(state, "rewrite.json", "entries") < 2) {
                assertThat(System.nanoTime()).as("two chunks of entries copied within 2 minutes").isLessThan(deadline);
                Thread.sleep(20);
            }
            try (java.sql.Connection c = source.connect("rewritten"); java.sql.Statement s = c.createStatement()) {
                s.execute("VACUUM FULL entries"); // waits for the part being copied, then moves every row
            }
            assertThatThrownBy(() -> m.awaitInSync(Duration.ofMinutes(3)))
                    .isInstanceOf(io.pgmigrate.PgMigrateException.class)
                    .hasMessageContaining("was rewritten on the source while its parts were being copied");
            m.start();
            m.awaitInSync(Duration.ofMinutes(3));
            for (String table : Bookkeeping.TABLES) {
                assertThat(Bookkeeping.hash(target, "rewritten", table)).as(table)
                        .isEqualTo(Bookkeeping.hash(source, "rewritten", table));
            }
            m.complete();
        }
    }

    /** How many chunks of {@code leaf} the journal says are done. */
    static int doneChunks(Path state, String journal, String leaf) throws Exception {
        Path file = state.resolve(journal);
        if (!Files.exists(file)) {
            return 0;
        }
        String text;
        try {
            text = Files.readString(file);
        } catch (java.io.IOException e) {
            return 0;
        }
        Matcher m = Pattern.compile("\"leaf\" : \"" + Pattern.quote(leaf) + "\",\\s*\"part\" : \\d+,\\s*\"parts\" :"
                + " \\d+,\\s*\"done\" : true").matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}
