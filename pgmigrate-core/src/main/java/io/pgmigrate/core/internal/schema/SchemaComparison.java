package io.pgmigrate.core.internal.schema;

import io.pgmigrate.SchemaDiff;
import io.pgmigrate.SchemaDiff.Difference;
import io.pgmigrate.SchemaDiff.Kind;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Compares the schemas of two databases object by object (see {@link SchemaSnapshot} for what is compared): an
 * object only the left has is {@link Kind#MISSING}, one only the right has is {@link Kind#EXTRA}, one whose
 * normalized definitions differ is {@link Kind#DIFFERENT}.
 */
public final class SchemaComparison {

    private SchemaComparison() {
    }

    /**
     * Reads both databases' catalogs and compares them, {@code left} as the reference. Works on any two connections,
     * also of different majors; each session's {@code search_path} is restored afterwards.
     */
    public static SchemaDiff compare(Connection left, Connection right) throws SQLException {
        return compare(SchemaSnapshot.read(left), SchemaSnapshot.read(right));
    }

    /** Compares two snapshots, {@code left} as the reference; the differences are in object type and name order. */
    public static SchemaDiff compare(SchemaSnapshot left, SchemaSnapshot right) {
        Map<SchemaSnapshot.Key, String> l = left.objects();
        Map<SchemaSnapshot.Key, String> r = right.objects();
        SortedSet<SchemaSnapshot.Key> keys = new TreeSet<>(l.keySet());
        keys.addAll(r.keySet());
        List<Difference> differences = new ArrayList<>();
        for (SchemaSnapshot.Key key : keys) {
            String a = l.get(key);
            String b = r.get(key);
            if (b == null) {
                differences.add(new Difference(Kind.MISSING, key.type(), key.name(), a, ""));
            } else if (a == null) {
                differences.add(new Difference(Kind.EXTRA, key.type(), key.name(), "", b));
            } else if (!a.equals(b)) {
                differences.add(new Difference(Kind.DIFFERENT, key.type(), key.name(), a, b));
            }
        }
        return new SchemaDiff(differences);
    }
}
