package io.pgmigrate.core.internal.state;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.StateStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The journal's compare-and-swap on save (review F3): a stale journal is never written over a newer one. */
class JournalTest {

    private static MigrationConfig config(StateStore store) {
        try (Migration m = Migration.builder().name("journaled")
                .source(Endpoint.of("jdbc:postgresql://127.0.0.1:1/")).target(Endpoint.of("jdbc:postgresql://127.0.0.1:2/"))
                .databases("app").stateStore(store).build()) {
            return m.config();
        }
    }

    @Test
    void aJournalReadBeforeAnotherProcessWroteIsNotSavedOverIt(@TempDir Path dir) {
        MigrationConfig config = config(StateStore.directory(dir));
        Journal first = Journal.load(config, () -> { });
        first.update(d -> d.withActive(Side.SOURCE));
        Journal stale = Journal.load(config, () -> { });
        Journal newer = Journal.load(config, () -> { });
        newer.update(d -> d.withActive(Side.TARGET));

        assertThatThrownBy(() -> stale.database("app").phase(Phase.STREAMING))
                .isInstanceOfSatisfying(PgMigrateException.class,
                        e -> assertThat(e.code()).isEqualTo(CoreErrorCode.MIGRATION_IN_USE))
                .hasMessageContaining("changed by another process");
        assertThat(Journal.load(config, () -> { }).active()).isEqualTo(Side.TARGET);
        newer.update(d -> d.withActive(Side.SOURCE)); // the up-to-date one goes on
    }

    @Test
    void aJournalAnotherProcessDeletedIsNotWrittenBack(@TempDir Path dir) {
        MigrationConfig config = config(StateStore.directory(dir));
        Journal a = Journal.load(config, () -> { });
        a.database("app").phase(Phase.STREAMING);
        Journal b = Journal.load(config, () -> { });
        b.delete(); // b completed the migration

        assertThatThrownBy(() -> a.update(d -> d.withActive(Side.TARGET))).hasMessageContaining("deleted by another process");
        assertThat(StateStore.directory(dir).load("journaled")).isEmpty();
    }

    @Test
    void aSaveThatFailedAfterReachingTheStoreDoesNotLookLikeAnotherWriter(@TempDir Path dir) {
        StateStore directory = StateStore.directory(dir);
        AtomicBoolean failAfterWrite = new AtomicBoolean();
        StateStore flaky = ObservedStateStore.savingThrough(directory, (key, document) -> {
            directory.save(key, document);
            if (failAfterWrite.getAndSet(false)) {
                throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "disk went away after the rename");
            }
        });
        Journal j = Journal.load(config(flaky), () -> { });
        j.database("app").phase(Phase.STREAMING);
        failAfterWrite.set(true);
        assertThatThrownBy(() -> j.update(d -> d.withActive(Side.TARGET))).hasMessageContaining("disk went away");
        j.database("app").mark(Flag.SCHEMA_COPIED); // not refused as another process's write
        // The caller was told the change failed: the next save writes what memory holds over it.
        JournalDocument stored = JournalFormat.read(directory.load("journaled").orElseThrow());
        assertThat(stored.database("app").flags()).containsExactly(Flag.SCHEMA_COPIED);
        assertThat(stored.active()).isEqualTo(Side.SOURCE);
    }

    /** Review F25: a change whose save failed stayed in memory, so memory and the store disagreed. */
    @Test
    void aChangeWhoseSaveFailedIsTakenBackInMemory(@TempDir Path dir) {
        StateStore directory = StateStore.directory(dir);
        AtomicBoolean down = new AtomicBoolean();
        StateStore failing = ObservedStateStore.savingThrough(directory, (key, document) -> {
            if (down.get()) {
                throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "disk full");
            }
            directory.save(key, document);
        });
        Journal j = Journal.load(config(failing), () -> { });
        j.database("app").phase(Phase.STREAMING);
        j.database("app").mark(Flag.OUTBOUND_CREATED_BY_CUTOVER);
        down.set(true);

        assertThatThrownBy(() -> j.update(d -> d.withActive(Side.TARGET))).hasMessageContaining("disk full");
        assertThatThrownBy(() -> j.update(d -> d.withCutover(Optional.of(PendingMove.start(Side.TARGET)))))
                .hasMessageContaining("disk full");
        assertThatThrownBy(() -> j.database("app").phase(Phase.CUT_OVER)).hasMessageContaining("disk full");
        assertThatThrownBy(() -> j.database("app").unmark(Flag.OUTBOUND_CREATED_BY_CUTOVER)).hasMessageContaining("disk full");
        assertThatThrownBy(() -> j.database("app").mark(Flag.OUTBOUND_CREATED_BY_ROLLBACK)).hasMessageContaining("disk full");

        assertThat(j.active()).isEqualTo(Side.SOURCE);
        assertThat(j.pendingMove()).isEmpty();
        assertThat(j.database("app").phase()).isEqualTo(Phase.STREAMING);
        assertThat(j.database("app").flag(Flag.OUTBOUND_CREATED_BY_CUTOVER)).isTrue();
        assertThat(j.database("app").flag(Flag.OUTBOUND_CREATED_BY_ROLLBACK)).isFalse();
    }

    @Test
    void aWriteIsRefusedWhenTheGuardSaysThisProcessNoLongerDrives(@TempDir Path dir) {
        MigrationConfig config = config(StateStore.directory(dir));
        AtomicBoolean owns = new AtomicBoolean(true);
        Journal j = Journal.load(config, () -> {
            if (!owns.get()) {
                throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "lost the lock");
            }
        });
        j.database("app").phase(Phase.STREAMING);
        owns.set(false);
        assertThatThrownBy(() -> j.update(d -> d.withActive(Side.TARGET))).hasMessageContaining("lost the lock");
        assertThat(Journal.load(config, () -> { }).active()).isEqualTo(Side.SOURCE);
    }

    /**
     * A fence or link marks its flag, then changes a server: marking a flag that is already set must still check that
     * this process drives, or a process that lost the lock would go on to change servers.
     */
    @Test
    void markingAFlagAlreadySetStillChecksTheGuard(@TempDir Path dir) {
        MigrationConfig config = config(StateStore.directory(dir));
        AtomicBoolean owns = new AtomicBoolean(true);
        Journal j = Journal.load(config, () -> {
            if (!owns.get()) {
                throw new PgMigrateException(CoreErrorCode.MIGRATION_IN_USE, "lost the lock");
            }
        });
        j.database("app").mark(Flag.SOURCE_FENCE);
        owns.set(false);
        assertThatThrownBy(() -> j.database("app").mark(Flag.SOURCE_FENCE)).hasMessageContaining("lost the lock");
        assertThatThrownBy(() -> j.database("app").phase(Phase.NOT_STARTED)).hasMessageContaining("lost the lock");
        j.database("app").unmark(Flag.TARGET_FENCE); // not set: nothing to write, nothing to refuse
    }
}
