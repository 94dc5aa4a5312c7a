package io.pgmigrate;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class MigrationStatusTest {

    @Test
    void theTextShowsEachDatabaseAndTheTablesStillCopyingWithProgressRateAndTimeLeft() {
        TableStatus orders = new TableStatus("public", "orders", CopyState.COPYING, 300_000, 135_000, 36_100_000,
                80_200_000, 12_000_000);
        TableStatus items = new TableStatus("public", "order items", CopyState.PENDING, 900_000, 0, 0, 120_000_000, 0);
        TableStatus customers = new TableStatus("public", "customers", CopyState.READY, 5_000, 5_000, 900_000, 900_000,
                0);
        DatabaseStatus shop = new DatabaseStatus("shop", Phase.COPYING, Lsn.parse("0/3000000"),
                Lsn.parse("0/2FFF000"), 1_234_567, Duration.ofMillis(400), List.of(orders, items, customers), "");
        DatabaseStatus billing = new DatabaseStatus("billing", Phase.STREAMING, Lsn.parse("0/5000000"),
                Lsn.parse("0/5000000"), 0, Duration.ZERO, List.of(customers), "subscription disabled by someone",
                new ApplyStatus(Engine.STREAM, 4, 1000, 1234.4, 1e6, 12));
        MigrationStatus status = new MigrationStatus("demo", Instant.parse("2026-12-02T12:00:03.456Z"),
                List.of(shop, billing));

        assertThat(status.toText().lines()).containsExactly(
                "migration demo, 2026-12-02T12:00:03Z",
                "shop: COPYING, lag 1.2 MB (0.4 s), 1 of 3 tables copied",
                "  public.orders         [#########...........]  45%  135,000 of 300,000 rows  36.1 MB of 80.2 MB"
                        + "  12.0 MB/s  3.7 s left",
                "  public.\"order items\"  waiting for a copy worker",
                "billing: STREAMING, lag 0 B (0.0 s), 1 of 1 tables copied, applying on 4 connections 1,234 tx/s,"
                        + " 12 changes queued",
                "  ! subscription disabled by someone");
    }
}
