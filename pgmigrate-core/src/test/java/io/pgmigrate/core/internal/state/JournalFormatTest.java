package io.pgmigrate.core.internal.state;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Endpoint;
import io.pgmigrate.Lsn;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.StateStore;
import io.pgmigrate.core.internal.state.PendingMove.Step;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The journal's on-disk format: typed documents written by Jackson, older formats read, newer ones refused. */
class JournalFormatTest {

    private static final Instant T0 = Instant.parse("2026-11-20T10:00:00Z");

    /** A journal as pgmigrate 0.1.0 before the typed journal wrote it (format 1), mid-way through a rollback. */
    private static final String FORMAT_1 = """
            {
              "format": 1,
              "migration": "shop",
              "source": "postgresql://migrator@127.0.0.1:5432/",
              "target": "postgresql://migrator@127.0.0.1:5433/",
              "createdAt": "2026-11-20T10:00:00Z",
              "databases": {
                "app": {
                  "phase": "CUT_OVER",
                  "publication": true,
                  "subscription": true,
                  "schemaCopied": true,
                  "fence.SOURCE": true,
                  "reversePublication": true,
                  "reverseSubscription": true,
                  "outboundCreatedByRollback": true,
                  "targetDatabaseCreated": false
                },
                "billing": {"phase": "STREAMING", "subscription": true}
              },
              "active": "TARGET",
              "lastCutover": {
                "to": "TARGET",
                "fenceStart": "2026-11-20T11:00:00Z",
                "switchEnd": "2026-11-20T11:00:00.084Z",
                "steps": [["engage fence on source", 1500000], ["switch traffic", 41000000]],
                "sentinels": {"app": "0/3000060", "billing": "0/30001A8"}
              },
              "cutover": {
                "to": "SOURCE",
                "step": "FENCED",
                "fenceStart": "2026-11-20T12:00:00Z",
                "sentinels": {}
              },
              "updatedAt": "2026-11-20T12:00:00.010Z",
              "generation": 17
            }
            """;

    /** The configuration of the migration {@link #FORMAT_1} belongs to. */
    private static MigrationConfig shop(StateStore store) {
        try (Migration m = Migration.builder().name("shop")
                .source(Endpoint.of("jdbc:postgresql://127.0.0.1:5432/").user("migrator"))
                .target(Endpoint.of("jdbc:postgresql://127.0.0.1:5433/").user("migrator"))
                .databases("app", "billing").stateStore(store).build()) {
            return m.config();
        }
    }

    @Test
    void aDocumentSurvivesItsText() {
        JournalDocument doc = JournalDocument.create("shop", "src", "tgt", T0)
                .withDatabase("app", DatabaseRecord.EMPTY.withPhase(Phase.STREAMING).with(Flag.SUBSCRIPTION, true)
                        .with(Flag.PUBLICATION, true).with(Flag.SOURCE_FENCE, true))
                .withDatabase("billing", DatabaseRecord.EMPTY.withPhase(Phase.COPYING))
                .withActive(Side.TARGET)
                .withCutover(Optional.of(PendingMove.start(Side.SOURCE).fenced(T0.plusSeconds(5))
                        .synced(Map.of("app", Lsn.parse("0/3000060")))))
                .withLastCutover(new FinishedMove(Side.TARGET, T0, T0.plusMillis(90),
                        List.of(new FinishedMove.StepTime("switch traffic", Duration.ofNanos(41_000_123))),
                        Map.of("app", Lsn.parse("1/A0"))))
                .saved(T0.plusSeconds(9));

        String text = JournalFormat.write(doc);

        assertThat(JournalFormat.read(text)).isEqualTo(doc);
        assertThat(text).contains("\"format\" : " + JournalFormat.CURRENT)
                .contains("\"flags\" : [ \"PUBLICATION\", \"SUBSCRIPTION\", \"SOURCE_FENCE\" ]")
                .contains("\"app\" : \"0/3000060\"")
                .contains("\"duration\" : \"PT0.041000123S\"")
                .contains("\"createdAt\" : \"2026-11-20T10:00:00Z\"")
                .doesNotContain("switchEnd\" : null");
        assertThat(JournalFormat.write(JournalFormat.read(text))).as("stable text").isEqualTo(text);
    }

    @Test
    void aFormat1JournalIsReadWithEverythingItHeld() {
        JournalDocument doc = JournalFormat.read(FORMAT_1);

        assertThat(doc.format()).isEqualTo(JournalFormat.CURRENT);
        assertThat(doc.generation()).isEqualTo(17);
        assertThat(doc.active()).isEqualTo(Side.TARGET);
        assertThat(doc.database("app").phase()).isEqualTo(Phase.CUT_OVER);
        assertThat(doc.database("app").flags()).containsExactly(Flag.PUBLICATION, Flag.SUBSCRIPTION,
                Flag.REVERSE_PUBLICATION, Flag.REVERSE_SUBSCRIPTION, Flag.SOURCE_FENCE, Flag.SCHEMA_COPIED,
                Flag.OUTBOUND_CREATED_BY_ROLLBACK);
        assertThat(doc.database("billing").flags()).containsExactly(Flag.SUBSCRIPTION);
        assertThat(doc.databases()).containsOnlyKeys("app", "billing");
        assertThat(doc.cutover()).contains(new PendingMove(Side.SOURCE, Step.FENCED,
                Optional.of(Instant.parse("2026-11-20T12:00:00Z")), Optional.empty(), Map.of()));
        FinishedMove last = doc.lastCutover().orElseThrow();
        assertThat(last.steps()).containsExactly(
                new FinishedMove.StepTime("engage fence on source", Duration.ofNanos(1_500_000)),
                new FinishedMove.StepTime("switch traffic", Duration.ofMillis(41)));
        assertThat(last.sentinels()).containsEntry("billing", Lsn.parse("0/30001A8"));
    }

    @Test
    void aJournalOfANewerFormatIsRefusedNamingBothFormats() {
        int next = JournalFormat.CURRENT + 1;
        String newer = FORMAT_1.replace("\"format\": 1", "\"format\": " + next);
        assertThatThrownBy(() -> JournalFormat.read(newer)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("written by a newer pgmigrate (journal format " + next + "; this version reads"
                        + " formats 1 to " + JournalFormat.CURRENT + ")");
    }

    @Test
    void anInitialCopysChunksSurviveTheRoundTripAndAFormat2DocumentReadsWithoutOne() {
        CopyRecord copy = new CopyRecord(Lsn.parse("0/4AA7A98"), "00000008-00000002-1",
                List.of(new CopyRecord.Table("public", "orders")), List.of(
                new CopyRecord.ChunkRecord("public", "orders", "public", "orders_2026", 0, 2, true, 1200, 98_304),
                new CopyRecord.ChunkRecord("public", "orders", "public", "orders_2026", 1, 2, false, 0, 0)));
        JournalDocument doc = JournalDocument.create("shop", "src", "tgt", T0)
                .withDatabase("app", DatabaseRecord.EMPTY.withCopy(Optional.of(copy)));
        JournalDocument back = JournalFormat.read(JournalFormat.write(doc));
        assertThat(back.database("app").copy()).contains(copy);
        assertThat(back.database("app").copy().orElseThrow().complete()).isFalse();

        String format2 = JournalFormat.write(JournalDocument.create("shop", "src", "tgt", T0)
                .withDatabase("app", DatabaseRecord.EMPTY.withPhase(Phase.STREAMING)))
                .replace("\"format\" : " + JournalFormat.CURRENT, "\"format\" : 2");
        assertThat(JournalFormat.read(format2).database("app").copy()).isEmpty();
        assertThat(JournalFormat.read(format2).database("app").phase()).isEqualTo(Phase.STREAMING);
    }

    @Test
    void aMemberThisVersionDoesNotKnowIsRefusedNotDropped() {
        String current = JournalFormat.write(JournalDocument.create("shop", "src", "tgt", T0));
        String extended = current.replace("\"migration\"", "\"pacing\" : 12,\n  \"migration\"");
        assertThatThrownBy(() -> JournalFormat.read(extended)).hasMessageContaining("pacing");
        String oldExtended = FORMAT_1.replace("\"phase\": \"STREAMING\"", "\"phase\": \"STREAMING\", \"turbo\": true");
        assertThatThrownBy(() -> JournalFormat.read(oldExtended))
                .hasMessageContaining("database 'billing' has the member 'turbo'");
    }

    @Test
    void textThatIsNoJournalIsRefused() {
        assertThatThrownBy(() -> JournalFormat.read("{\"databases\": {}")).hasMessageContaining("not JSON");
        assertThatThrownBy(() -> JournalFormat.read("{\"migration\": \"shop\"}"))
                .hasMessageContaining("not a pgmigrate journal: it has no format number");
        assertThatThrownBy(() -> JournalFormat.read("[1, 2]")).hasMessageContaining("no format number");
        assertThatThrownBy(() -> JournalFormat.read(FORMAT_1.replace("\"CUT_OVER\"", "\"TELEPORTED\"")))
                .hasMessageContaining("does not hold what a format 1 journal holds");
    }

    @Test
    void loadingAJournalOfANewerFormatFailsClearlyAndLeavesItAsItIs(@TempDir Path dir) {
        StateStore store = StateStore.directory(dir);
        String newer = FORMAT_1.replace("\"format\": 1", "\"format\": 9");
        store.save("shop", newer);
        MigrationConfig config = shop(store);

        assertThatThrownBy(() -> Journal.load(config, () -> { }))
                .isInstanceOfSatisfying(PgMigrateException.class,
                        e -> assertThat(e.code()).isEqualTo(CoreErrorCode.STATE_STORE_FAILED))
                .hasMessageContaining("the state of migration 'shop'")
                .hasMessageContaining("journal format 9")
                .hasMessageContaining("left as it is");
        assertThat(store.load("shop")).contains(newer);
    }

    @Test
    void aFormat1JournalIsWrittenBackInTheCurrentFormatOnItsNextSave(@TempDir Path dir) {
        StateStore store = StateStore.directory(dir);
        store.save("shop", FORMAT_1);
        MigrationConfig config = shop(store);
        assertThat(config.source().toString()).as("the fixture's endpoints are what this version prints")
                .isEqualTo("postgresql://migrator@127.0.0.1:5432/");

        Journal journal = Journal.load(config, () -> { });
        assertThat(journal.database("app").flag(Flag.REVERSE_SUBSCRIPTION)).isTrue();
        journal.database("billing").phase(Phase.CUTTING_OVER);

        JournalDocument saved = JournalFormat.read(store.load("shop").orElseThrow());
        assertThat(store.load("shop").orElseThrow()).contains("\"format\" : " + JournalFormat.CURRENT);
        assertThat(saved.generation()).isEqualTo(18);
        assertThat(saved.database("billing").phase()).isEqualTo(Phase.CUTTING_OVER);
        assertThat(saved.database("app")).isEqualTo(JournalFormat.read(FORMAT_1).database("app"));
        assertThat(saved.lastCutover()).isEqualTo(JournalFormat.read(FORMAT_1).lastCutover());
    }
}
