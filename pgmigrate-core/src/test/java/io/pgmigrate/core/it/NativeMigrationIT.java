package io.pgmigrate.core.it;

import io.pgmigrate.CopyState;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

@PostgresPair(source = 14, target = 18)
class NativeMigrationIT {

    private static final List<String> TABLES = List.of("public.items", "\"Mixed\".\"CamelCase\"",
            "public.\"quoted \"\"name\"\"\"");

    @Test
    void twoDatabasesUnderConcurrentWritesArriveIdenticalAndCompleteLeavesNothingBehind(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        Fixtures.createShop(source, "shop", 100_000);
        Fixtures.createShop(source, "Crm Data", 20_000);
        List<MigrationStatus> progress = new CopyOnWriteArrayList<>();
        List<String> phases = new CopyOnWriteArrayList<>();

        try (Migration m = Migration.builder()
                .name("it")
                .source(source.endpoint())
                .target(target.endpoint())
                .databases("shop", "Crm Data")
                .stateDirectory(state)
                .progressInterval(Duration.ofMillis(200))
                .listener(new MigrationListener() {
                    @Override
                    public void onProgress(MigrationStatus status) {
                        progress.add(status);
                    }

                    @Override
                    public void onPhase(String database, Phase phase) {
                        phases.add(database + ":" + phase);
                    }
                })
                .build()) {

            assertThat(m.preflight().hasBlockers()).as(m.preflight().toTable()).isFalse();

            long commitsDuringCopy;
            try (Fixtures.Writers shopWriters = new Fixtures.Writers(source, "shop", 2, 100_000);
                 Fixtures.Writers crmWriters = new Fixtures.Writers(source, "Crm Data", 1, 20_000)) {
                m.start();
                MigrationStatus started = m.status();
                assertThat(started.databases()).extracting(d -> d.phase())
                        .allMatch(p -> p == Phase.COPYING || p == Phase.STREAMING);
                m.awaitInSync(Duration.ofMinutes(3));
                commitsDuringCopy = shopWriters.commits() + crmWriters.commits();
                // keep writing after the copy, through the streaming phase
                long until = shopWriters.commits() + 300;
                while (shopWriters.commits() < until) {
                    Thread.sleep(10);
                }
            }
            assertThat(commitsDuringCopy).as("writes made during the initial copy").isPositive();

            MigrationStatus synced = m.awaitInSync(Duration.ofMinutes(2));
            assertThat(synced.databases()).allSatisfy(d -> {
                assertThat(d.phase()).isEqualTo(Phase.STREAMING);
                assertThat(d.tables()).hasSize(3).allMatch(t -> t.state() == CopyState.READY);
            });
            assertThat(progress).as("progress events while waiting").isNotEmpty();
            assertThat(phases).contains("shop:COPYING", "Crm Data:COPYING");

            for (String db : List.of("shop", "Crm Data")) {
                for (String table : TABLES) {
                    assertThat(Fixtures.fingerprint(target, db, table)).as(db + " " + table)
                            .isEqualTo(Fixtures.fingerprint(source, db, table));
                }
            }
            VerificationReport v = m.verify();
            assertThat(v.tables()).hasSize(6);
            assertThat(v.matches()).as(v.mismatches().toString()).isTrue();

            m.complete();
        }

        for (String db : List.of("shop", "Crm Data")) {
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_publication WHERE pubname LIKE 'pgmigrate%'"))
                    .isZero();
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_subscription")).isZero();
        }
        assertThat(Fixtures.count(source, "postgres", "SELECT count(*) FROM pg_replication_slots")).isZero();
        assertThat(Fixtures.count(target, "postgres", "SELECT count(*) FROM pg_replication_origin")).isZero();
        assertThat(Fixtures.count(target, "shop", "SELECT count(*) FROM items")).isPositive();
    }
}
