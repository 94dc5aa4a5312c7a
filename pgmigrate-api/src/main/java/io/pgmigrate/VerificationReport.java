package io.pgmigrate;

import java.time.Duration;
import java.util.List;

/**
 * The result of comparing every replicated table of every database on both sides.
 *
 * @param tables  one entry per table
 * @param elapsed how long the comparison took
 * @since 0.1.0
 */
public record VerificationReport(List<TableVerification> tables, Duration elapsed) {

    public VerificationReport {
        tables = List.copyOf(tables);
    }

    public boolean matches() {
        return tables.stream().allMatch(TableVerification::matches);
    }

    public List<TableVerification> mismatches() {
        return tables.stream().filter(t -> !t.matches()).toList();
    }
}
