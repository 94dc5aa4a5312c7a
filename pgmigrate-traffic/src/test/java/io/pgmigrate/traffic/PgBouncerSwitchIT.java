package io.pgmigrate.traffic;

import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Applications behind a real PgBouncer see no failed request across a cutover and a rollback: PgBouncer holds them
 * while the old side is fenced, and they go on to the new side.
 */
@PostgresPair(source = 14, target = 18)
class PgBouncerSwitchIT {

    @BeforeAll
    static void pgbouncer() {
        PgBouncer.assumeInstalled();
    }

    @Test
    void clientsBehindPgBouncerSeeNoFailedRequestAcrossCutoverAndRollback(@Source PostgresServer source,
            @Target PostgresServer target, @TempDir Path dir) throws Exception {
        String db = "bouncer_shop";
        source.createDatabase(db);
        source.execute(db, Clients.SCHEMA);
        Path databases = dir.resolve("pgmigrate-databases.ini");
        int port = PgBouncer.freePort();
        PgBouncerSwitch pgbouncer = switchFor(port, source, target, db, databases, Duration.ofSeconds(30));
        pgbouncer.writeDatabasesFile(Side.SOURCE);
        try (PgBouncer bouncer = PgBouncer.start(dir, databases, port)) {
            Probe probe = new Probe(pgbouncer, bouncer, db);
            try (Migration m = Migration.builder().name("bouncer").source(source.endpoint()).target(target.endpoint())
                    .databases(db).stateDirectory(dir.resolve("state")).trafficSwitch(probe).build();
                 Clients clients = new Clients(4, 40, true, () -> bouncer.connect(db))) {
                m.start();
                m.awaitInSync(Duration.ofMinutes(2));
                clients.awaitCommits(source.port(), 40);

                CutoverReport cutover = m.cutover();
                assertThat(cutover.succeeded()).as(cutover.toString()).isTrue();
                probe.assertHeldRequestWentTo(target.port());
                clients.awaitCommits(target.port(), 40);

                CutoverReport rollback = m.rollback();
                assertThat(rollback.succeeded()).as(rollback.toString()).isTrue();
                probe.assertHeldRequestWentTo(source.port());
                clients.awaitCommits(source.port(), 40);
                clients.stop();

                assertThat(clients.failures()).as("requests that failed").isEmpty();
                System.out.printf("PgBouncer: slowest client transaction %d ms; cutover held requests %d ms (window"
                                + " %d ms); rollback: held request waited %d ms%n", clients.slowest().toMillis(),
                        probe.heldWait.toMillis(), cutover.writeUnavailable().toMillis(),
                        pgbouncer.lastHold().orElseThrow().toMillis());
                assertThat(pgbouncer.lastHold()).isPresent();
                // every transaction committed through PgBouncer is on the source again, once
                long committed = clients.commits() + probe.inFlightCommits;
                assertThat(count(source, db, "SELECT count(*) FROM transfers")).isEqualTo(committed);
                assertThat(count(source, db, "SELECT sum(balance) FROM accounts")).isEqualTo(
                        clients.amounts() + probe.inFlightAmounts);
                m.complete();
            }
        }
    }

    @Test
    void aTransactionOutlastingThePauseAbandonsTheCutoverAndRequestsGoOn(@Source PostgresServer source,
            @Target PostgresServer target, @TempDir Path dir) throws Exception {
        String db = "bouncer_slow";
        source.createDatabase(db);
        source.execute(db, Clients.SCHEMA);
        Path databases = dir.resolve("pgmigrate-databases.ini");
        int port = PgBouncer.freePort();
        PgBouncerSwitch pgbouncer = switchFor(port, source, target, db, databases, Duration.ofMillis(500));
        pgbouncer.writeDatabasesFile(Side.SOURCE);
        try (PgBouncer bouncer = PgBouncer.start(dir, databases, port);
             Connection slow = bouncer.connect(db)) {
            // a transaction that starts after the cutover's preparation and outlasts the PAUSE's limit
            TrafficSwitch slowFirst = new TrafficSwitch() {
                @Override
                public void hold(Side side) {
                    try {
                        slow.setAutoCommit(false);
                        try (Statement s = slow.createStatement()) {
                            s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (99, 0, 1, 5)");
                        }
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                    pgbouncer.hold(side);
                }

                @Override
                public void switchTo(Side side) {
                    pgbouncer.switchTo(side);
                }

                @Override
                public void release(Side side) {
                    pgbouncer.release(side);
                }
            };
            try (Migration m = Migration.builder().name("bouncer").source(source.endpoint()).target(target.endpoint())
                    .databases(db).stateDirectory(dir.resolve("state")).trafficSwitch(slowFirst).build()) {
                m.start();
                m.awaitInSync(Duration.ofMinutes(2));
                assertThatThrownBy(m::cutover).isInstanceOf(CutoverException.class)
                        .hasMessageContaining("could not pause database " + db + ": transactions still ran after 500 ms")
                        .satisfies(e -> assertThat(((PgMigrateException) e.getCause()).code())
                                .isEqualTo(TrafficErrorCode.HOLD_TIMED_OUT));
                assertThat(bouncer.paused(db)).as("resumed").isFalse();
                // nothing was fenced: the open transaction commits, and new requests go to the source
                slow.commit();
                try (Connection c = bouncer.connect(db); Statement s = c.createStatement()) {
                    s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (99, 1, 1, 5)");
                    try (ResultSet rs = s.executeQuery("SELECT inet_server_port()")) {
                        rs.next();
                        assertThat(rs.getInt(1)).isEqualTo(source.port());
                    }
                }
                assertThat(count(source, db, "SELECT count(*) FROM transfers WHERE client = 99")).isEqualTo(2);
                m.complete();
            }
        }
    }

    @Test
    void aSwitchThatFailsBothWaysStillLetsTheHeldRequestsGoAndKeepsTheMovePending(@Source PostgresServer source,
            @Target PostgresServer target, @TempDir Path dir) throws Exception {
        String db = "bouncer_broken";
        source.createDatabase(db);
        source.execute(db, Clients.SCHEMA);
        Path databases = dir.resolve("pgmigrate-databases.ini");
        int port = PgBouncer.freePort();
        PgBouncerSwitch pgbouncer = switchFor(port, source, target, db, databases, Duration.ofSeconds(30));
        pgbouncer.writeDatabasesFile(Side.SOURCE);
        java.util.concurrent.atomic.AtomicBoolean broken = new java.util.concurrent.atomic.AtomicBoolean(true);
        TrafficSwitch failing = new TrafficSwitch() {
            @Override
            public void hold(Side side) {
                pgbouncer.hold(side);
            }

            @Override
            public void switchTo(Side side) {
                if (broken.get()) {
                    throw new IllegalStateException("the databases file cannot be written");
                }
                pgbouncer.switchTo(side);
            }

            @Override
            public void release(Side side) {
                pgbouncer.release(side);
            }
        };
        try (PgBouncer bouncer = PgBouncer.start(dir, databases, port);
             Migration m = Migration.builder().name("bouncer").source(source.endpoint()).target(target.endpoint())
                     .databases(db).stateDirectory(dir.resolve("state")).trafficSwitch(failing).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            assertThatThrownBy(m::cutover).isInstanceOf(CutoverException.class)
                    .hasMessageContaining("switching traffic back to the source failed")
                    .hasMessageContaining("the move stays pending");
            assertThat(bouncer.paused(db)).as("the held requests were let go").isFalse();
            try (Connection c = bouncer.connect(db); Statement s = c.createStatement()) {
                s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (98, 0, 1, 5)");
            }
            // once the switch works again, recover() ends the pending move where traffic is
            broken.set(false);
            assertThat(m.recover()).hasValueSatisfying(r -> assertThat(r.succeeded()).isFalse());
            try (Connection c = bouncer.connect(db); Statement s = c.createStatement()) {
                s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (98, 1, 1, 5)");
            }
            assertThat(count(source, db, "SELECT count(*) FROM transfers WHERE client = 98")).isEqualTo(2);
            m.complete();
        }
    }

    private static PgBouncerSwitch switchFor(int port, PostgresServer source, PostgresServer target, String db,
                                             Path file, Duration pauseTimeout) {
        return PgBouncerSwitch.builder("127.0.0.1", port)
                .user("postgres").databasesFile(file).pauseTimeout(pauseTimeout)
                .database(db, "host=127.0.0.1 port=" + source.port() + " dbname=" + db,
                        "host=127.0.0.1 port=" + target.port() + " dbname=" + db)
                .build();
    }

    static long count(PostgresServer server, String db, String sql) throws SQLException {
        try (Connection c = server.connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /**
     * The switch under test, watched: when it holds, a transaction is still open through PgBouncer (the PAUSE must
     * let it commit), and a request made once the database is paused must wait and then reach the new side.
     */
    static final class Probe implements TrafficSwitch {
        private final PgBouncerSwitch delegate;
        private final PgBouncer bouncer;
        private final String db;
        private CompletableFuture<Integer> held;
        private long heldStart;
        volatile Duration heldWait = Duration.ZERO;
        long inFlightCommits;
        long inFlightAmounts;
        private int seq;
        private int holds;

        Probe(PgBouncerSwitch delegate, PgBouncer bouncer, String db) {
            this.delegate = delegate;
            this.bouncer = bouncer;
            this.db = db;
        }

        @Override
        public void hold(Side side) {
            try {
                Connection open = bouncer.connect(db);
                open.setAutoCommit(false);
                try (Statement s = open.createStatement()) {
                    s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (100, " + seq++ + ", 2, 7)");
                    s.execute("UPDATE accounts SET balance = balance + 7 WHERE id = 2");
                }
                CompletableFuture<Void> commit = CompletableFuture.runAsync(() -> {
                    try {
                        Clients.await(() -> paused(), "the PAUSE");
                        open.commit();
                        open.close();
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                String probe = "pgmigrate-held-probe-" + ++holds;
                Connection idle = bouncer.connect(db, probe);
                delegate.hold(side);
                commit.get(1, TimeUnit.MINUTES); // the PAUSE returned, so the transaction had committed
                inFlightCommits++;
                inFlightAmounts += 7;
                // an application's idle connection asks now: it must wait in PgBouncer
                heldStart = System.nanoTime();
                held = CompletableFuture.supplyAsync(() -> {
                    try (Connection c = idle; Statement s = c.createStatement();
                         ResultSet rs = s.executeQuery("SELECT inet_server_port()")) {
                        rs.next();
                        heldWait = Duration.ofNanos(System.nanoTime() - heldStart);
                        return rs.getInt(1);
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                });
                Clients.await(() -> {
                    try {
                        // this very request, not any client's (the writers wait too)
                        return bouncer.clientState(probe).equals("waiting") || held.isDone();
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                }, "the request to wait in PgBouncer");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        private boolean paused() {
            try {
                return bouncer.paused(db);
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void switchTo(Side side) {
            delegate.switchTo(side);
        }

        @Override
        public void release(Side side) {
            assertThat(held).as("a request made while held is still waiting").isNotDone();
            delegate.release(side);
        }

        void assertHeldRequestWentTo(int port) throws Exception {
            assertThat(held.get(1, TimeUnit.MINUTES)).as("the held request's server").isEqualTo(port);
        }

        @Override
        public String description() {
            return delegate.description();
        }
    }
}
