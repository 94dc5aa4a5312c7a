package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.testkit.TcpProxy;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The cutover proofs, run for each pair of majors by a subclass. Writers commit through a {@link TcpProxy} as an
 * application role; the checks read both servers directly and never trust pgmigrate's own view.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
abstract class CutoverContract {

    private static final Duration SYNC = Duration.ofMinutes(2);
    /** pg_subscription is shared by every database of a server. */
    private static final String HERE = "subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())";

    @Test
    void cutoverLosesNoCommittedWriteUnderLoadAndRollbackBringsTheNewWritesBack(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String a = "ledger_a";
        String b = "Ledger B";
        Ledger.create(source, a, 4, true); // a partitioned ledger, through cutover and rollback
        Ledger.create(source, b, 2);
        Ledger.createRole(target);
        try (TcpProxy proxy = proxy(source, target);
             Migration m = migration(source, target, state, "load", a, b).trafficSwitch(proxy).build()) {
            m.start();
            m.awaitInSync(SYNC);
            Ledger.grant(target, a);
            Ledger.grant(target, b);

            CutoverReport report;
            Ledger.Writers wa = new Ledger.Writers(proxy.host(), proxy.port(), a, 4);
            Ledger.Writers wb = new Ledger.Writers(proxy.host(), proxy.port(), b, 2);
            try (wa; wb) {
                wa.awaitMoreCommits(200);
                wb.awaitMoreCommits(100);
                wa.resetGap();
                report = m.cutover();
                wa.awaitMoreCommits(200);
                wb.awaitMoreCommits(100);
            }
            System.out.println(report.toText());
            System.out.printf("writers: %d commits, %d failed attempts, longest gap %d ms%n",
                    wa.commits() + wb.commits(), wa.failedAttempts() + wb.failedAttempts(), wa.longestGapMillis());

            assertThat(report.succeeded()).isTrue();
            assertThat(report.to()).isEqualTo(Side.TARGET);
            assertThat(report.sentinelLsns()).containsOnlyKeys(a, b);
            assertThat(proxy.active()).isEqualTo(Side.TARGET);
            assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.CUT_OVER);

            for (var e : List.of(new Object[]{a, wa}, new Object[]{b, wb})) {
                String db = (String) e[0];
                Ledger.Writers w = (Ledger.Writers) e[1];
                assertThat(Ledger.keys(target, db)).as("every write a client saw committed is on the target")
                        .containsAll(w.confirmed());
                assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer >= 0"))
                        .as("counters agree with the ledger on the target")
                        .isEqualTo(Fixtures.count(target, db, "SELECT sum(n) FROM counters"));
                // The target's sequence went on after the source's: the writes after the switch did not collide.
                assertThat(Fixtures.count(target, db, "SELECT last_value FROM ledger_id_seq"))
                        .isGreaterThanOrEqualTo(Fixtures.count(source, db, "SELECT max(id) FROM ledger"));
                // 1009 on the source, plus the default sequenceMargin of 1000 increments.
                assertThat(Fixtures.count(target, db, "SELECT last_value FROM free_standing")).isEqualTo(2009);
            }
            assertThat(report.sequences().get(a)).extracting(CutoverReport.SequenceValue::name)
                    .contains("ledger_id_seq", "free_standing", "audit_id_seq");
            target.execute(a, "INSERT INTO audit (note) VALUES ('after the cutover')");
            assertThat(Fixtures.count(target, a, "SELECT max(id) FROM audit")).isEqualTo(77 + 1000 + 1);

            // One direction at a time: the forward stream is off, the reverse one on.
            if (engine() == Engine.STREAM) {
                String streamed = "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name LIKE %s";
                assertThat(Fixtures.count(source, a, streamed.formatted("'pgmigrate\\_load\\_%'"))).isZero();
                assertThat(Fixtures.count(target, a, streamed.formatted("'pgmigrate\\_load\\_%\\_rslot'")))
                        .isEqualTo(2);
                assertThat(Fixtures.count(target, a, "SELECT count(*) FROM pg_subscription")).isZero();
            } else {
                String enabled = "SELECT count(*) FROM pg_subscription WHERE subenabled AND " + HERE;
                assertThat(Fixtures.count(target, a, enabled)).isZero();
                assertThat(Fixtures.count(source, a, enabled)).isOne();
            }
            if (source.majorVersion() >= 16 && engine() == Engine.NATIVE) {
                assertThat(Fixtures.count(source, a,
                        "SELECT count(*) FROM pg_subscription WHERE suborigin = 'none' AND " + HERE))
                        .as("the reverse stream skips replicated changes").isOne();
            }

            // The reverse stream carries the target's writes to the source; nothing else differs, so nothing was
            // committed on the source after the fence.
            m.awaitInSync(SYNC);
            m.status();
            assertThat(m.status().databases()).allSatisfy(d -> {
                io.pgmigrate.ApplyStatus apply = d.apply();
                assertThat(apply.engine()).isEqualTo(engine());
                assertThat(apply.bytesPerSecond()).as("a rate over the time since the last status").isNotNegative();
                if (engine() == Engine.STREAM) {
                    assertThat(apply.connections()).isPositive();
                    assertThat(apply.transactions()).as("the writers' commits on the target, applied back")
                            .isPositive();
                    assertThat(apply.queuedChanges()).isNotNegative();
                    assertThat(apply.transactionsPerSecond()).isNotNegative();
                } else {
                    assertThat(apply.connections()).isOne();
                    assertThat(apply.transactions()).isEqualTo(-1);
                    assertThat(apply.queuedChanges()).isEqualTo(-1);
                }
            });
            for (String db : List.of(a, b)) {
                assertThat(Fixtures.fingerprint(source, db, "public.ledger"))
                        .isEqualTo(Fixtures.fingerprint(target, db, "public.ledger"));
                assertThat(counters(source, db)).isEqualTo(counters(target, db));
            }
            assertSourceRefusesWrites(source, a);

            // Rollback: traffic returns to the source with the target's writes, and the forward stream runs again.
            Ledger.Writers again = new Ledger.Writers(proxy.host(), proxy.port(), a, 4);
            CutoverReport back;
            try (again) {
                again.awaitMoreCommits(200);
                back = m.rollback();
                again.awaitMoreCommits(200);
            }
            System.out.println(back.toText());
            assertThat(back.succeeded()).isTrue();
            assertThat(back.to()).isEqualTo(Side.SOURCE);
            assertThat(proxy.active()).isEqualTo(Side.SOURCE);
            assertThat(Ledger.keys(source, a)).as("writes made on the target before the rollback are on the source")
                    .containsAll(again.confirmed()).containsAll(wa.confirmed());
            assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.STREAMING);
            m.awaitInSync(SYNC);
            assertThat(Fixtures.fingerprint(target, a, "public.ledger"))
                    .isEqualTo(Fixtures.fingerprint(source, a, "public.ledger"));
            assertSourceAcceptsWrites(source, a);

            m.complete();
            assertThat(Fixtures.count(source, a, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%'"))
                    .isZero();
            assertThat(Fixtures.count(target, a, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%'"))
                    .isZero();
            assertThat(Fixtures.count(target, "postgres",
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgmigrate\\_load\\_%'")).isZero();
            assertThat(Fixtures.count(source, "postgres",
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgmigrate\\_load\\_%'")).isZero();
            assertThat(Fixtures.count(source, a, "SELECT count(*) FROM pg_subscription WHERE " + HERE)).isZero();
            for (PostgresServer server : List.of(source, target)) {
                assertThat(Fixtures.count(server, a, "SELECT count(*) FROM pg_replication_origin"
                        + " WHERE roname LIKE 'pgmigrate\\_load\\_%'")).as("replication origins left").isZero();
            }
        }
    }

    @Test
    void aFencedSessionCannotWriteEvenAfterTurningReadOnlyOff(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "fenced";
        Ledger.create(source, db, 1);
        source.execute(db, "CREATE MATERIALIZED VIEW ledger_by_writer AS SELECT writer, count(*) FROM ledger"
                + " GROUP BY writer");
        try (Migration m = migration(source, target, state, "fence", db).build()) {
            // An application session that is already connected, idle, when the fence comes.
            try (Connection app = Ledger.connectAsApp(source.host(), source.port(), db)) {
                var fence = m.fence(Side.SOURCE, db);
                fence.engage();
                try {
                    assertThat(fence.engaged()).isTrue();
                    assertThat(fence.engagedAt()).isPresent();
                    try (Statement s = app.createStatement()) {
                        s.execute("SET default_transaction_read_only = off");
                        s.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
                        assertThatThrownBy(() -> s.executeUpdate("INSERT INTO ledger (writer, seq) VALUES (1, 1)"))
                                .isInstanceOfSatisfying(SQLException.class,
                                        e -> assertThat(e.getSQLState()).isEqualTo("25006"));
                        assertThatThrownBy(() -> s.execute("TRUNCATE counters"))
                                .isInstanceOfSatisfying(SQLException.class,
                                        e -> assertThat(e.getSQLState()).isEqualTo("25006"));
                    }
                    assertSourceRefusesWrites(source, db);
                    // The superuser is fenced too: only the migration's own sessions pass.
                    assertThatThrownBy(() -> source.execute(db, "DELETE FROM counters"))
                            .hasMessageContaining("25006");
                    assertThatThrownBy(() -> source.execute(db, "CREATE TABLE sneaky (id int)"))
                            .hasMessageContaining("25006");
                    // What changes nothing a stream carries stays open to read-only users left there (review F25).
                    source.execute(db, "REFRESH MATERIALIZED VIEW ledger_by_writer");
                    source.execute(db, "GRANT SELECT ON ledger_by_writer TO PUBLIC");
                    source.execute(db, "REVOKE SELECT ON ledger_by_writer FROM PUBLIC");
                } finally {
                    fence.lift();
                }
                assertThat(fence.engaged()).isFalse();
                assertThat(fence.liftedAt()).isPresent();
                try (Statement s = app.createStatement()) {
                    assertThat(s.executeUpdate("INSERT INTO ledger (writer, seq) VALUES (1, 1)")).isOne();
                }
            }
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgmigrate%'"))
                    .isZero();
        }
    }

    @Test
    void aWriteAlreadyRunningWhenTheFenceComesCannotCommit(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "drained";
        Ledger.create(source, db, 1);
        try (Migration m = migration(source, target, state, "drain", db).fenceDrainTimeout(Duration.ofMillis(200))
                .build()) {
            var fence = m.fence(Side.SOURCE, db);
            fence.prepare(); // as a cutover does before its window
            // The statement's trigger fires before it sleeps, with the guard still inert: only the drain stops it.
            CompletableFuture<Integer> slow = CompletableFuture.supplyAsync(() -> {
                try (Connection app = Ledger.connectAsApp(source.host(), source.port(), db);
                     Statement s = app.createStatement()) {
                    return s.executeUpdate("INSERT INTO ledger (writer, seq) SELECT 7, 1 FROM pg_sleep(60)");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            awaitActive(source, db, "usename = '" + Ledger.APP_ROLE + "'");
            fence.engage();
            try {
                assertThatThrownBy(slow::join).hasCauseInstanceOf(IllegalStateException.class);
            } finally {
                fence.lift();
            }
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM ledger WHERE writer = 7"))
                    .as("the write that was running when the fence came was not committed").isZero();
        }
    }

    /**
     * A {@code replication=database} connection runs SQL as a walsender, not a client backend: the drain must see its
     * transaction too (review F1; background workers report their own {@code backend_type} the same way).
     */
    @Test
    void aWriteRunningOnAReplicationConnectionWhenTheFenceComesCannotCommit(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "drained_walsender";
        Ledger.create(source, db, 1);
        try (Migration m = migration(source, target, state, "drainws", db).fenceDrainTimeout(Duration.ofMillis(200))
                .build()) {
            var fence = m.fence(Side.SOURCE, db);
            fence.prepare();
            CompletableFuture<Integer> slow = CompletableFuture.supplyAsync(() -> {
                try (Connection walsender = replicationConnection(source, db); Statement s = walsender.createStatement()) {
                    return s.executeUpdate("INSERT INTO ledger (writer, seq) SELECT 9, 1 FROM pg_sleep(60)");
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            awaitActive(source, db, "backend_type = 'walsender'");
            fence.engage();
            try {
                assertThatThrownBy(slow::join).hasCauseInstanceOf(IllegalStateException.class);
            } finally {
                fence.lift();
            }
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM ledger WHERE writer = 9"))
                    .as("the walsender's write that was running when the fence came was not committed").isZero();
        }
    }

    @Test
    void aCutoverThatFailsBeforeTheSwitchLeavesBothSidesAsTheyWere(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "aborted";
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        String subscription = "pgmigrate_abort_aborted_sub";
        boolean stream = engine() == Engine.STREAM;
        // After the pre-check passed the stream stops applying, so the sentinel cannot arrive: NATIVE's subscription
        // is disabled; the target refuses STREAM's next ledger rows (a lock or an open transaction would hold up
        // preparing the stream back, which creates a slot on the target).
        MigrationListener saboteur = new MigrationListener() {
            @Override
            public void onPhase(String database, Phase phase) {
                if (phase == Phase.CUTTING_OVER) {
                    target.execute(db, stream
                            ? "ALTER TABLE ledger ADD CONSTRAINT sabotage CHECK (writer < 0) NOT VALID"
                            : "ALTER SUBSCRIPTION " + subscription + " DISABLE");
                }
            }
        };
        io.pgmigrate.MigrationBuilder builder = migration(source, target, state, "abort", db).listener(saboteur);
        if (stream) {
            builder.cutoverTimeout(Duration.ofSeconds(3)); // the sentinel wait ends there
        }
        try (TcpProxy proxy = proxy(source, target);
             Migration m = streaming(target, db, builder.trafficSwitch(proxy))) {
            Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 2);
            CutoverException failure;
            try (w) {
                w.awaitMoreCommits(100);
                failure = org.junit.jupiter.api.Assertions.assertThrows(CutoverException.class, m::cutover);
                w.awaitMoreCommits(100);
            }
            assertThat(failure.code()).isEqualTo(CoreErrorCode.CUTOVER_FAILED);
            assertThat(failure.report().succeeded()).isFalse();
            if (stream) {
                assertThat(failure.report().failure()).contains("did not apply sentinel");
            } else {
                assertThat(failure.report().failure()).contains(subscription).contains("disabled");
            }
            assertThat(proxy.active()).isEqualTo(Side.SOURCE);
            assertSourceAcceptsWrites(source, db);
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%fence'"))
                    .as("the fence is gone").isZero();
            assertThat(Fixtures.count(target, "postgres",
                    "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pgmigrate\\_abort\\_%'"))
                    .as("the prepared reverse slot is gone").isZero();
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_subscription WHERE " + HERE)).isZero();
            assertThat(Ledger.keys(source, db)).containsAll(w.confirmed());

            // With the stream running again the same migration cuts over.
            if (stream) {
                target.execute(db, "ALTER TABLE ledger DROP CONSTRAINT sabotage");
            } else {
                target.execute(db, "ALTER SUBSCRIPTION " + subscription + " ENABLE");
            }
            m.awaitInSync(SYNC);
            assertThat(m.status().databases()).allMatch(d -> d.phase() == Phase.STREAMING);
            assertThat(Ledger.keys(target, db)).containsAll(w.confirmed());
        }
    }

    /** Waits until a session matching {@code condition} runs the test's {@code pg_sleep} statement in {@code db}. */
    private static void awaitActive(PostgresServer server, String db, String condition) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (Fixtures.count(server, db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                + " AND " + condition + " AND state = 'active' AND query LIKE '%pg_sleep%'") == 0) {
            assertThat(System.nanoTime()).as("the slow insert started").isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    /** A logical replication connection, which runs plain SQL too (simple query protocol only). */
    private static Connection replicationConnection(PostgresServer server, String db) throws SQLException {
        var endpoint = server.endpoint(db);
        java.util.Properties p = new java.util.Properties();
        p.setProperty("user", server.superuser());
        endpoint.password().ifPresent(pw -> p.setProperty("password", pw));
        p.setProperty("replication", "database");
        p.setProperty("preferQueryMode", "simple");
        p.setProperty("assumeMinServerVersion", "10");
        return new org.postgresql.Driver().connect(endpoint.jdbcUrl(db), p);
    }

    /**
     * The target is fenced from {@code start()} on (review F4): a write that reaches it while traffic still belongs to
     * the source, whether a stray job during streaming or a client served by a switch that moved some traffic and then
     * failed, is refused instead of committed there and lost when the cutover is undone.
     */
    @Test
    void aWriteThatReachesTheTargetBeforeTheSwitchSucceededIsRefusedNotLost(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "early_target";
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        try (TcpProxy proxy = proxy(source, target)) {
            // Moves traffic to the target, lets a client write there, puts traffic back, then reports failure: a VIP
            // that answered on the new node for a moment before its start timed out.
            List<SQLException> refused = new java.util.concurrent.CopyOnWriteArrayList<>();
            io.pgmigrate.TrafficSwitch flaky = new io.pgmigrate.TrafficSwitch() {
                @Override
                public void switchTo(Side side) {
                    proxy.switchTo(side);
                    if (side == Side.TARGET) {
                        try (Connection c = Ledger.connectAsApp(proxy.host(), proxy.port(), db);
                             Statement st = c.createStatement()) {
                            st.executeUpdate("INSERT INTO ledger (writer, seq, note) VALUES (-5, 1, 'briefly served')");
                        } catch (SQLException e) {
                            refused.add(e);
                        }
                        proxy.switchTo(Side.SOURCE);
                        throw new IllegalStateException("the new side did not come up in time");
                    }
                }

                @Override
                public String description() {
                    return "flaky switch";
                }
            };
            try (Migration m = streaming(target, db,
                    migration(source, target, state, "early", db).trafficSwitch(flaky))) {
                assertThatThrownBy(() -> target.execute(db, "DELETE FROM counters WHERE writer = 0"))
                        .as("a stray write while streaming, even a superuser's").hasMessageContaining("25006");

                Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 2);
                try (w) {
                    w.awaitMoreCommits(100);
                    assertThatThrownBy(m::cutover).isInstanceOf(CutoverException.class);
                    w.awaitMoreCommits(100);
                }
                assertThat(refused).as("the client the failed switch served was refused")
                        .singleElement().extracting(SQLException::getSQLState).isEqualTo("25006");
                assertThat(Fixtures.count(target, db, "SELECT count(*) FROM ledger WHERE writer = -5")).isZero();
                assertThat(proxy.active()).isEqualTo(Side.SOURCE);
                assertThat(Ledger.keys(source, db)).containsAll(w.confirmed());
                m.awaitInSync(SYNC);
                assertThat(Fixtures.fingerprint(source, db, "public.ledger"))
                        .isEqualTo(Fixtures.fingerprint(target, db, "public.ledger"));
                m.complete();
            }
        }
    }

    /**
     * The state store stops accepting writes (a cluster store without quorum, a full disk) just as the cutover
     * journals SWITCHING: nothing has moved yet, so the cutover must still be undone, its fence lifted, instead of
     * leaving the source fenced with no traffic anywhere (review F16). A later process on the healed store cuts over.
     */
    @Test
    void aStateStoreThatFailsAtTheSwitchLeavesTheSourceWritableAndTrafficWhereItWas(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "store_fails";
        Ledger.create(source, db, 2);
        Ledger.createRole(target);
        FailingStateStore store = new FailingStateStore(io.pgmigrate.StateStore.directory(state));
        try (TcpProxy proxy = proxy(source, target)) {
            try (Migration m = streaming(target, db, Migration.builder().engine(engine()).name("storefail")
                    .source(source.endpoint())
                    .target(target.endpoint()).databases(db).stateStore(store).trafficSwitch(proxy))) {
                Ledger.Writers w = new Ledger.Writers(proxy.host(), proxy.port(), db, 2);
                CutoverException failure;
                try (w) {
                    w.awaitMoreCommits(100);
                    store.failFrom("\"SWITCHING\"");
                    failure = org.junit.jupiter.api.Assertions.assertThrows(CutoverException.class, m::cutover);
                    w.awaitMoreCommits(100); // the source takes writes again
                }
                assertThat(failure.report().succeeded()).isFalse();
                assertThat(failure.report().failure()).contains("state store");
                assertThat(proxy.active()).isEqualTo(Side.SOURCE);
                assertSourceAcceptsWrites(source, db);
                assertThat(Ledger.keys(source, db)).containsAll(w.confirmed());
            }
            store.heal();
            try (Migration m = Migration.builder().engine(engine()).name("storefail").source(source.endpoint())
                    .target(target.endpoint()).databases(db).stateStore(store).trafficSwitch(proxy).build()) {
                assertThat(m.cutover().succeeded()).isTrue();
                assertThat(proxy.active()).isEqualTo(Side.TARGET);
                m.complete();
            }
        }
    }

    /**
     * The state store records SWITCHING, then the switch fails and the store cannot record that: a restarted process
     * would read SWITCHING and finish the move. Undoing now would lift the old side's fence under a cutover that is
     * later finished, and the writes it then took would be lost; the fences stay up instead, and the next call
     * finishes the move (review of issue 12's fixes).
     */
    @Test
    void aSwitchThatFailsWhileTheStoreHoldsSwitchingKeepsTheFencesUpUntilTheMoveIsFinished(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "store_holds_switching";
        Ledger.create(source, db, 1);
        Ledger.createRole(target);
        FailingStateStore store = new FailingStateStore(io.pgmigrate.StateStore.directory(state));
        try (TcpProxy proxy = proxy(source, target)) {
            io.pgmigrate.TrafficSwitch refusesOnce = new io.pgmigrate.TrafficSwitch() {
                private boolean refused;

                @Override
                public void switchTo(Side side) {
                    if (!refused) {
                        refused = true;
                        throw new IllegalStateException("the new side did not come up in time");
                    }
                    proxy.switchTo(side);
                }

                @Override
                public String description() {
                    return "refuses once";
                }
            };
            try (Migration m = streaming(target, db, Migration.builder().engine(engine()).name("holds")
                    .source(source.endpoint())
                    .target(target.endpoint()).databases(db).stateStore(store).trafficSwitch(refusesOnce))) {
                store.failAfter("\"SWITCHING\"");
                assertThatThrownBy(m::cutover).isInstanceOfSatisfying(io.pgmigrate.PgMigrateException.class,
                        e -> assertThat(e.code()).isEqualTo(CoreErrorCode.STATE_STORE_FAILED));
                assertSourceRefusesWrites(source, db);
                assertThat(proxy.active()).isEqualTo(Side.SOURCE);
            }
            store.heal();
            try (Migration m = Migration.builder().engine(engine()).name("holds").source(source.endpoint())
                    .target(target.endpoint()).databases(db).stateStore(store).trafficSwitch(refusesOnce).build()) {
                assertThat(m.recover()).hasValueSatisfying(r -> assertThat(r.succeeded()).isTrue());
                assertThat(proxy.active()).isEqualTo(Side.TARGET);
                assertSourceRefusesWrites(source, db);
                m.complete();
            }
        }
    }

    static String counters(PostgresServer server, String db) throws SQLException {
        try (Connection c = server.connect(db); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT string_agg(writer || '=' || n, ',' ORDER BY writer) FROM counters")) {
            rs.next();
            return rs.getString(1);
        }
    }

    static TcpProxy proxy(PostgresServer source, PostgresServer target) {
        return TcpProxy.start(new InetSocketAddress(source.host(), source.port()),
                new InetSocketAddress(target.host(), target.port()), Side.SOURCE);
    }

    /** The engine the contract runs with; a subclass for STREAM overrides it. */
    Engine engine() {
        return Engine.NATIVE;
    }

    /** {@link #builder} with this contract's engine. */
    io.pgmigrate.MigrationBuilder migration(PostgresServer source, PostgresServer target, Path state, String name,
                                            String... dbs) {
        return builder(source, target, state, name, dbs).engine(engine());
    }

    static io.pgmigrate.MigrationBuilder builder(PostgresServer source, PostgresServer target, Path state,
                                                 String name, String... dbs) {
        return Migration.builder()
                .name(name)
                .source(source.endpoint())
                .target(target.endpoint())
                .databases(dbs)
                .stateDirectory(state);
    }

    /**
     * The migration {@code builder} describes, started, in sync, and the ledger's application role granted on the
     * target: ready for a cutover. Closed again when a step fails.
     */
    static Migration streaming(PostgresServer target, String db, io.pgmigrate.MigrationBuilder builder) {
        Migration m = builder.build();
        try {
            m.start();
            m.awaitInSync(SYNC);
            Ledger.grant(target, db);
            return m;
        } catch (RuntimeException | Error e) {
            m.close();
            throw e;
        }
    }

    static void assertSourceRefusesWrites(PostgresServer source, String db) throws SQLException {
        assertRefusesWrites(source.host(), source.port(), db);
    }

    /** An application session at {@code host:port} cannot write, even after turning read-only mode off. */
    static void assertRefusesWrites(String host, int port, String db) throws SQLException {
        try (Connection c = Ledger.connectAsApp(host, port, db); Statement s = c.createStatement()) {
            s.execute("SET default_transaction_read_only = off");
            assertThatThrownBy(() -> s.executeUpdate("INSERT INTO ledger (writer, seq) VALUES (-2, 1)"))
                    .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25006"));
        }
    }

    static void assertSourceAcceptsWrites(PostgresServer source, String db) throws SQLException {
        try (Connection c = Ledger.connectAsApp(source.host(), source.port(), db); Statement s = c.createStatement()) {
            assertThat(s.executeUpdate("INSERT INTO ledger (writer, seq) VALUES (-3, " + System.nanoTime() + ")"))
                    .isOne();
        }
    }
}
