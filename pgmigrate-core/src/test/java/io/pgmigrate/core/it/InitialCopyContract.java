package io.pgmigrate.core.it;

import io.pgmigrate.CopyState;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.TableStatus;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * pgmigrate's own initial copy: one exported snapshot, tables split into parts copied at once, indexes and keys built
 * after the data, and the stream starting exactly where the copy's rows end. Run against each source major whose
 * split differs (page ranges from 14 on, key ranges before).
 */
abstract class InitialCopyContract {

    /** Rows of the large table. */
    abstract int entries();

    @Test
    void aLargeTableCopiedInPartsWhileWritersChangeEveryTableArrivesIdentical(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        Bookkeeping.create(source, "books", entries());
        List<TableStatus> seenCopying = new CopyOnWriteArrayList<>();
        List<Integer> entriesParts = new CopyOnWriteArrayList<>();
        MigrationListener listener = new MigrationListener() {
            @Override
            public void onProgress(MigrationStatus status) {
                status.databases().forEach(d -> d.tables().stream()
                        .filter(t -> t.state() == CopyState.COPYING).forEach(seenCopying::add));
                entriesParts.add(chunksOf(state, "copy", "entries"));
            }
        };
        try (Migration m = Migration.builder().name("copy").source(source.endpoint()).target(target.endpoint())
                .databases("books").stateDirectory(state).copyPartSize(2L << 20)
                .progressInterval(Duration.ofMillis(100)).listener(listener).build()) {
            try (Bookkeeping.Writers writers = new Bookkeeping.Writers(source, "books", 2, entries())) {
                m.start();
                MigrationStatus started = m.status();
                assertThat(started.databases().get(0).phase()).isIn(Phase.COPYING, Phase.STREAMING);
                m.awaitInSync(Duration.ofMinutes(5));
                long atSync = writers.commits();
                assertThat(atSync).as("writes during the copy").isPositive();
                long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
                while (writers.commits() < atSync + 50) {
                    assertThat(System.nanoTime()).as("50 more writes within a minute").isLessThan(deadline);
                    Thread.sleep(10); // and some through the stream
                }
            }
            MigrationStatus synced = m.awaitInSync(Duration.ofMinutes(2));
            assertThat(synced.databases().get(0).phase()).isEqualTo(Phase.STREAMING);
            assertThat(synced.databases().get(0).tables()).allMatch(t -> t.state() == CopyState.READY);

            for (String table : Bookkeeping.TABLES) {
                assertThat(Bookkeeping.hash(target, "books", table)).as(table)
                        .isEqualTo(Bookkeeping.hash(source, "books", table));
            }
            assertThat(entriesParts).as("parts the large table was planned in").anyMatch(n -> n > 1);
            assertThat(seenCopying).as("progress of a table being copied")
                    .anyMatch(t -> t.bytesCopied() > 0 && t.estimatedBytes() > 0 && t.bytesPerSecond() > 0);
            // Keys, indexes, foreign keys and the rest built after the data are the source's, name for name.
            SchemaDiff diff = m.schemaDiff("books");
            assertThat(diff.isEmpty()).as(diff.toText()).isTrue();
            assertThat(m.verify().matches()).isTrue();
            m.complete();
        }
        assertThat(Fixtures.count(source, "books", "SELECT count(*) FROM pg_replication_slots")).isZero();
    }

    /** How many chunks of the leaf {@code leaf} the journal's copy record lists now (0 when it has none). */
    static int chunksOf(Path state, String migration, String leaf) {
        try {
            Path file = state.resolve(migration + ".json");
            if (!Files.exists(file)) {
                return 0;
            }
            Matcher m = Pattern.compile("\"leaf\" : \"" + Pattern.quote(leaf) + "\"").matcher(Files.readString(file));
            int n = 0;
            while (m.find()) {
                n++;
            }
            return n;
        } catch (IOException e) {
            return 0; // being replaced; the next look reads it
        }
    }
}
