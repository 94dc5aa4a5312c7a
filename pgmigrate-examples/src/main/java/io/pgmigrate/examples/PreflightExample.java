package io.pgmigrate.examples;

import io.pgmigrate.Migration;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/**
 * A preflight run on a database with the problems migrations typically trip over, printed as a table; then the
 * blocker is fixed with the SQL the report gives, and preflight runs again. Nothing is migrated: preflight changes
 * nothing. Run: {@code mvn -q -Pdemo -DskipTests package -Ddemo.main=io.pgmigrate.examples.PreflightExample}.
 */
public final class PreflightExample {

    private PreflightExample() {
    }

    public static void main(String[] args) throws Exception {
        var src = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(14));
        var tgt = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(18));
        Path state = Files.createTempDirectory("pgmigrate-preflight-example");
        try (PostgresServer source = src.join(); PostgresServer target = tgt.join()) {
            source.createDatabase("shop");
            source.execute("shop", """
                    CREATE TABLE orders (id bigserial PRIMARY KEY, total numeric(12, 2));
                    CREATE TABLE audit_log (at timestamptz DEFAULT now(), line text);    -- no primary key
                    INSERT INTO audit_log (line) VALUES ('created'); UPDATE audit_log SET line = 'edited';
                    CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);
                    CREATE MATERIALIZED VIEW daily AS SELECT count(*) FROM orders;
                    SELECT lo_create(0);
                    """);
            awaitStatistics(source);
            try (Migration m = Migration.builder()
                    .name("example")
                    .source(source.endpoint("shop"))
                    .target(target.endpoint())
                    .stateDirectory(state)
                    .build()) {
                System.out.println("== preflight of database shop, PostgreSQL 14 -> 18 ==");
                PreflightReport report = m.preflight();
                System.out.print(report.toTable());

                System.out.println();
                System.out.println("== after applying the blocker's fix: ALTER TABLE audit_log REPLICA IDENTITY FULL ==");
                source.execute("shop", "ALTER TABLE audit_log REPLICA IDENTITY FULL");
                PreflightReport again = m.preflight();
                System.out.print(again.toTable());
                System.out.println(again.hasBlockers() ? "start() would refuse: blockers remain"
                        : "no blockers: start() may proceed; the warnings say what stays behind");
            }
        } finally {
            try (var walk = Files.walk(state)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Waits until the UPDATE shows in the statistics, which tell an insert-only table from an updated one. */
    private static void awaitStatistics(PostgresServer source) throws Exception {
        for (int i = 0; i < 200; i++) {
            try (var c = source.connect("shop"); var s = c.createStatement();
                 var rs = s.executeQuery("SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables"
                         + " WHERE relname = 'audit_log'")) {
                rs.next();
                if (rs.getLong(1) > 0) {
                    return;
                }
            }
            Thread.sleep(50);
        }
    }
}
