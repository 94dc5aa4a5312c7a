package io.pgmigrate.core.internal.verify;

import io.pgmigrate.KeyRange;
import io.pgmigrate.core.internal.sql.Queries;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyIn;
import org.postgresql.copy.CopyOut;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Replaces one range of a table on one side with the rows the other side has: a {@code DELETE} of the range and a
 * {@code COPY} of it, streamed row by row, in the transactions the caller opened on both sides (the caller commits,
 * and decides under which lock and snapshot). The rows are written in replica mode, as the stream writes them: no
 * trigger and no foreign key fires, and the fence lets them through.
 */
public final class RangeCopy {

    private RangeCopy() {
    }

    /**
     * Copies {@code range} of {@code table} from {@code from} into {@code into}.
     *
     * @return rows deleted on {@code into}, then rows copied
     */
    public static long[] copy(Connection from, Connection into, TableShape table, KeyRange range) throws SQLException {
        Queries.execute(into, "SET LOCAL session_replication_role = replica");
        long deleted;
        try (PreparedStatement delete = into.prepareStatement("DELETE FROM " + table.from() + " WHERE "
                + KeyRanges.condition(table.key(), range))) {
            List<String> parameters = KeyRanges.parameters(range);
            for (int i = 0; i < parameters.size(); i++) {
                delete.setString(i + 1, parameters.get(i));
            }
            deleted = delete.executeUpdate();
        }
        String columns = table.insertable().stream().map(c -> quote(c)).collect(Collectors.joining(", "));
        // COPY takes no parameters: the bounds are written as literals, quoted by the server that reads them
        String select = "SELECT " + columns + " FROM " + table.from() + " WHERE " + literal(from, table, range);
        CopyOut out = from.unwrap(PGConnection.class).getCopyAPI().copyOut("COPY (" + select + ") TO STDOUT");
        CopyIn in = null;
        try {
            in = into.unwrap(PGConnection.class).getCopyAPI().copyIn("COPY " + table.table().quoted() + " ("
                    + columns + ") FROM STDIN");
            byte[] row;
            while ((row = out.readFromCopy()) != null) {
                in.writeToCopy(row, 0, row.length);
            }
            return new long[] {deleted, in.endCopy()};
        } catch (SQLException | RuntimeException e) {
            if (out.isActive()) {
                out.cancelCopy();
            }
            if (in != null && in.isActive()) {
                in.cancelCopy();
            }
            throw e;
        }
    }

    /** {@code range}'s condition with its bounds as literals, each quoted by {@code c}'s server and cast to its type. */
    private static String literal(Connection c, TableShape table, KeyRange range) throws SQLException {
        List<KeyRanges.KeyColumn> key = table.key();
        String tuple = "(" + key.stream().map(k -> quote(k.name())).collect(Collectors.joining(", ")) + ")";
        List<String> parts = new ArrayList<>();
        if (range.after() != null) {
            parts.add(tuple + " > " + bound(c, key, range.after()));
        }
        if (range.upTo() != null) {
            parts.add(tuple + " <= " + bound(c, key, range.upTo()));
        }
        return parts.isEmpty() ? "true" : String.join(" AND ", parts);
    }

    private static String bound(Connection c, List<KeyRanges.KeyColumn> key, List<String> values) throws SQLException {
        List<String> literals = new ArrayList<>();
        for (int i = 0; i < key.size(); i++) {
            literals.add(Queries.string(c, "SELECT quote_nullable(?::text)", values.get(i)) + "::" + key.get(i).type());
        }
        return "(" + String.join(", ", literals) + ")";
    }
}
