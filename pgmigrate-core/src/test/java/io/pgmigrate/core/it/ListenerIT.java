package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.StateStore;
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
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
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

            @Override
            public void onCutoverStep(Side to, CutoverReport.Step step) {
                // inside the window too: an Error, not only a RuntimeException, must not end it halfway
                thrown.incrementAndGet();
                throw new AssertionError("a failed assertion in the caller's listener");
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

    /**
     * Every step reaches the listeners as it ends, in the report's order; and inside the write-unavailable window the
     * journal is written once, with {@code SWITCHING}, right before the traffic switch. Each save there lengthened the
     * window (five of them did, one per step; with the journal in a Pacemaker CIB each also made the cluster recompute
     * its transition just before the VIP moved). Recovery decides from the intent saved before the window and from
     * {@code SWITCHING} alone.
     */
    @Test
    void everyStepIsHeardAsItEndsAndTheWindowWritesTheJournalOnlyBeforeTheSwitch(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "windowed";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        AtomicBoolean inWindow = new AtomicBoolean();
        List<String> savedInWindow = new CopyOnWriteArrayList<>();
        StateStore directory = StateStore.directory(state);
        StateStore counting = new StateStore() {
            @Override
            public Optional<String> load(String key) {
                return directory.load(key);
            }

            @Override
            public void save(String key, String document) {
                directory.save(key, document);
                if (inWindow.get()) {
                    savedInWindow.add(document);
                }
            }

            @Override
            public void delete(String key) {
                directory.delete(key);
            }
        };
        List<String> heard = new CopyOnWriteArrayList<>();
        MigrationListener steps = new MigrationListener() {
            @Override
            public void onCutoverStep(Side to, CutoverReport.Step step) {
                assertThat(to).isEqualTo(Side.TARGET);
                heard.add(step.name());
                if (step.name().startsWith("hold traffic")) {
                    inWindow.set(true);
                } else if (step.name().startsWith("release traffic")) {
                    inWindow.set(false);
                }
            }
        };
        try (Migration m = CutoverContract.streaming(target, db, Migration.builder().name("windowed")
                .source(source.endpoint()).target(target.endpoint()).databases(db).stateStore(counting)
                .listener(steps))) {
            CutoverReport report = m.cutover();
            assertThat(report.succeeded()).isTrue();
            assertThat(heard).as("the steps as they ended").containsExactlyElementsOf(
                    report.steps().stream().map(CutoverReport.Step::name).toList());
            assertThat(savedInWindow).as("journal saves between the hold and the release").hasSize(1);
            assertThat(savedInWindow.get(0)).contains("\"SWITCHING\"");
            m.complete();
        }
    }
}
