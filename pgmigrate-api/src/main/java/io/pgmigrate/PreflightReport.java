package io.pgmigrate;

import java.util.List;

/**
 * Everything preflight found, blockers first.
 *
 * @param findings the findings, in order of severity
 * @since 0.1.0
 */
public record PreflightReport(List<Finding> findings) {

    public PreflightReport {
        findings = findings.stream().sorted(java.util.Comparator.comparing(Finding::severity)).toList();
    }

    public boolean hasBlockers() {
        return findings.stream().anyMatch(f -> f.severity() == Severity.BLOCKER);
    }

    public List<Finding> blockers() {
        return findings.stream().filter(f -> f.severity() == Severity.BLOCKER).toList();
    }

    /** A plain-text table of the findings, for logs and terminals. */
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
