package io.pgmigrate.core.it;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.Side;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;
import io.pgmigrate.testkit.TcpProxy;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The reverse stream a cutover prepares carries every table the forward stream carries, whatever came before. */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ReverseStreamIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    /**
     * A process that died between journaling the reverse publication and creating it left the flag without the
     * object; the next cutover created the publication with no tables, so the reverse stream carried nothing while
     * reporting itself in sync (review F12). The cutover decides from the servers: the reverse publication gets the
     * forward publication's tables, and a rollback brings the new side's writes back.
     */
    @Test
    void aReversePublicationJournaledButNeverCreatedIsCreatedWithEveryTable(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "half_journaled";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (TcpProxy proxy = CutoverContract.proxy(source, target)) {
            MigrationConfig config;
            try (Migration m = CutoverContract.builder(source, target, state, "half", db).build()) {
                m.start();
                m.awaitInSync(SYNC);
                config = m.config();
            }
            Ledger.grant(target, db);
            crashedBeforeCreatingTheReversePublication(config, db);

            try (Migration m = CutoverContract.builder(source, target, state, "half", db).trafficSwitch(proxy)
                    .build()) {
                assertThat(m.cutover().succeeded()).isTrue();
                assertThat(Fixtures.count(target, db, "SELECT count(*) FROM pg_publication_tables"
                        + " WHERE pubname LIKE 'pgmigrate\\_half\\_%' AND schemaname = 'public' AND tablename = 'ledger'"))
                        .as("the reverse publication on the target publishes the forward stream's tables").isOne();
                target.execute(db, "INSERT INTO ledger (writer, seq, note) VALUES (0, 1, 'on the new side')");
                m.awaitInSync(SYNC);
                assertThat(Fixtures.count(source, db, "SELECT count(*) FROM ledger WHERE writer = 0"))
                        .as("the reverse stream carries the new side's writes").isOne();
                CutoverReport back = m.rollback();
                assertThat(back.succeeded()).isTrue();
                assertThat(proxy.active()).isEqualTo(Side.SOURCE);
                m.complete();
            }
        }
    }

    /**
     * A table joins the forward stream after a cutover and a rollback: the reverse publication and its disabled
     * subscription, kept from the first cutover, did not list it, so the next rollback was refused, or, had the
     * publication listed it, the subscription would have skipped its changes (review F12). Each cutover brings the
     * reverse stream to the forward stream's tables.
     */
    @Test
    void aTableThatJoinedBetweenTwoCutoversComesBackWithTheSecondRollback(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "joined_later";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (TcpProxy proxy = CutoverContract.proxy(source, target);
             Migration m = CutoverContract.streaming(target, db,
                     CutoverContract.builder(source, target, state, "joined", db).trafficSwitch(proxy))) {
            assertThat(m.cutover().succeeded()).isTrue();
            assertThat(m.rollback().succeeded()).isTrue();

            // The team adds a table on the side with traffic: the stream carries it to the fenced target, where
            // awaitInSync() subscribes it (docs/ddl.md).
            source.execute(db, "CREATE TABLE joined (id int PRIMARY KEY, note text)");
            source.execute(db, "INSERT INTO joined VALUES (1, 'before the second cutover')");
            m.awaitInSync(SYNC);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM joined")).isOne();

            assertThat(m.cutover().succeeded()).isTrue();
            target.execute(db, "INSERT INTO joined VALUES (2, 'on the new side')");
            CutoverReport back = m.rollback();
            assertThat(back.succeeded()).isTrue();
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM joined")).as("both rows on the source")
                    .isEqualTo(2);
            m.complete();
        }
    }

    /**
     * {@code complete()} after a cutover lifted the old side's fence before it stopped the reverse stream: writes to
     * the old side then raced the reverse apply, and when a later step failed ("complete() can be called again") the
     * old side stayed writable with the reverse stream running (review F23). The streams go first now; here the state
     * store fails at the first step and the old side is still fenced.
     */
    @Test
    void completeStopsTheReverseStreamBeforeItLiftsTheOldSidesFence(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "completed";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        FailingStateStore store = new FailingStateStore(io.pgmigrate.StateStore.directory(state));
        try (Migration m = CutoverContract.streaming(target, db,
                Migration.builder().name("done").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateStore(store))) {
            assertThat(m.cutover().succeeded()).isTrue();

            store.failNow();
            assertThatThrownBy(m::complete).isInstanceOf(io.pgmigrate.PgMigrateException.class);
            CutoverContract.assertSourceRefusesWrites(source, db);

            store.heal();
            m.complete();
            CutoverContract.assertSourceAcceptsWrites(source, db);
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_subscription"
                    + " WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())")).isZero();
        }
    }

    /**
     * After a cutover the forward stream's slot stays on the old side for a rollback, disabled, and nothing moved it:
     * every change the reverse stream applied there stayed pinned in the old side's WAL, until its disk filled or
     * {@code max_slot_wal_keep_size} invalidated the slot and with it the rollback (review F11). A rollback starts the
     * forward stream at the old side's position of that moment anyway, so {@code status()} keeps the idle slot there.
     */
    @Test
    void theIdleForwardSlotFollowsTheOldSideSoItPinsNoWalAndTheRollbackStillWorks(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "idle_slot";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        try (TcpProxy proxy = CutoverContract.proxy(source, target);
             Migration m = CutoverContract.streaming(target, db,
                     CutoverContract.builder(source, target, state, "idle", db).trafficSwitch(proxy))) {
            assertThat(m.cutover().succeeded()).isTrue();

            // About 10 MB of writes on the new side, which the reverse stream applies on the old one.
            target.execute(db, "INSERT INTO ledger (writer, seq, note) SELECT 0, g, repeat('x', 200)"
                    + " FROM generate_series(1, 30000) g");
            m.awaitInSync(SYNC);
            m.status();
            String retained = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint"
                    + " FROM pg_replication_slots WHERE slot_name = 'pgmigrate_idle_idle_slot_slot'";
            assertThat(Fixtures.count(source, db, retained)).as("WAL the idle forward slot keeps on the old side")
                    .isLessThan(1L << 20);

            assertThat(m.rollback().succeeded()).isTrue();
            source.execute(db, "INSERT INTO ledger (writer, seq, note) VALUES (1, 1, 'after the rollback')");
            m.awaitInSync(SYNC);
            assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer = 1"))
                    .as("the forward stream runs again from where the rollback left it").isOne();
            assertThat(Fixtures.fingerprint(source, db, "public.ledger"))
                    .isEqualTo(Fixtures.fingerprint(target, db, "public.ledger"));
            m.complete();
        }
    }

    /** Leaves the journal as a process killed between marking the reverse publication and creating it would. */
    private static void crashedBeforeCreatingTheReversePublication(MigrationConfig config, String db) {
        Journal.load(config, () -> { }).database(db).mark(Flag.REVERSE_PUBLICATION);
    }
}
