package io.pgmigrate;

import java.util.List;

/**
 * Everything preflight found, blockers first.
 *
 * @param findings the findings, in order of severity
 * @since 0.1.0
 */
public record PreflightReport(List<Finding> findings) {

    /**
     * Sorts the findings by severity, blockers first, keeping the order within each severity.
     *
     * @param findings the findings, in any order
     */
    public PreflightReport {
        findings = findings.stream().sorted(java.util.Comparator.comparing(Finding::severity)).toList();
    }

    /**
     * Whether preflight found anything that keeps the migration from starting.
     *
     * @return true when at least one finding is a {@link Severity#BLOCKER}
     */
    public boolean hasBlockers() {
        return findings.stream().anyMatch(f -> f.severity() == Severity.BLOCKER);
    }

    /**
     * The findings that keep the migration from starting.
     *
     * @return the {@link Severity#BLOCKER} findings, in report order; empty when there are none
     */
    public List<Finding> blockers() {
        return findings.stream().filter(f -> f.severity() == Severity.BLOCKER).toList();
    }

    /**
     * A plain-text table of the findings, for logs and terminals.
     *
     * @return a line with the count of each severity, a header, then one line per finding, followed by its fix when
     *         it has one; a single line saying so when there are no findings
     */
    public String toTable() {
        if (findings.isEmpty()) {
            return "preflight: no findings\n";
        }
        StringBuilder b = new StringBuilder();
        long blockers = blockers().size();
        long warnings = findings.stream().filter(f -> f.severity() == Severity.WARNING).count();
        b.append(String.format("preflight: %d blocker(s), %d warning(s), %d note(s)%n", blockers, warnings,
                findings.size() - blockers - warnings));
        b.append(String.format("%-8s %-22s %s%n", "severity", "check", "database: object: what and why"));
        for (Finding f : findings) {
            b.append(String.format("%-8s %-22s %s%s%n", f.severity(), f.check(),
                    f.database().isEmpty() ? "" : f.database() + ": ",
                    f.object().isEmpty() ? f.message() : f.object() + ": " + f.message()));
            if (!f.fix().isEmpty()) {
                b.append(String.format("%-8s %-22s fix: %s%n", "", "", f.fix()));
            }
        }
        return b.toString();
    }
}
