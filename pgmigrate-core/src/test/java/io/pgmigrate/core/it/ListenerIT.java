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
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A listener is the caller's code running on pgmigrate's threads, between the cutover's steps. Its exception used to
 * propagate: a bug in a progress printer could abort a cutover halfway. Now it is logged and ignored, and the
 * listeners after it still hear every event.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ListenerIT {

    @Test
    void aListenerThatThrowsNeitherStopsTheMigrationNorKeepsTheNextListenerFromHearing(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "listened";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        AtomicInteger thrown = new AtomicInteger();
        MigrationListener broken = new MigrationListener() {
            @Override
            public void onPhase(String database, Phase phase) {
                thrown.incrementAndGet();
                throw new IllegalStateException("a bug in the caller's listener");
            }

            @Override
            public void onProgress(MigrationStatus status) {
                thrown.incrementAndGet();
                throw new IllegalStateException("a bug in the caller's listener");
            }
        };
        List<Phase> heard = new CopyOnWriteArrayList<>();
        MigrationListener next = new MigrationListener() {
            @Override
            public void onPhase(String database, Phase phase) {
                heard.add(phase);
            }
        };
        try (Migration m = CutoverContract.streaming(target, db, CutoverContract.builder(source, target, state,
                "listened", db).progressInterval(Duration.ofMillis(100)).listener(broken).listener(next))) {
            assertThat(m.cutover().succeeded()).isTrue();
            m.complete();
        }
        assertThat(thrown.get()).as("the broken listener was called, and threw").isGreaterThan(3);
        assertThat(heard).contains(Phase.STREAMING, Phase.CUTTING_OVER, Phase.CUT_OVER, Phase.COMPLETED);
    }
}
