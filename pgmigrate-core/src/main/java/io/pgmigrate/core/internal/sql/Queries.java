package io.pgmigrate.core.internal.sql;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Small JDBC helpers: every value bound, never concatenated. */
public final class Queries {

    /** Work on a connection inside {@link #inTransaction}. */
    @FunctionalInterface
    public interface SqlWork {
        void run() throws SQLException;
    }

    /** Maps one row. */
    @FunctionalInterface
    public interface RowMapper<T> {
        T map(ResultSet rs) throws SQLException;
    }

    private Queries() {
    }

    public static <T> List<T> list(Connection c, String sql, RowMapper<T> mapper, Object... params) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, params); ResultSet rs = ps.executeQuery()) {
            List<T> out = new ArrayList<>();
            while (rs.next()) {
                out.add(mapper.map(rs));
            }
            return out;
        }
    }

    public static <T> Optional<T> first(Connection c, String sql, RowMapper<T> mapper, Object... params)
            throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, params); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? Optional.ofNullable(mapper.map(rs)) : Optional.empty();
        }
    }

    public static String string(Connection c, String sql, Object... params) throws SQLException {
        return first(c, sql, rs -> rs.getString(1), params).orElse(null);
    }

    public static boolean exists(Connection c, String sql, Object... params) throws SQLException {
        return first(c, sql, rs -> Boolean.TRUE, params).isPresent();
    }

    /** Runs a statement that takes no parameters (DDL built with {@link Identifiers}). */
    public static void execute(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /**
     * Runs {@code work} in one transaction on {@code c}: committed when it returns, rolled back when it throws. The
     * connection's auto-commit mode is restored afterwards.
     */
    public static void inTransaction(Connection c, SqlWork work) throws SQLException {
        boolean auto = c.getAutoCommit();
        c.setAutoCommit(false);
        try {
            work.run();
            c.commit();
        } catch (SQLException | RuntimeException | Error e) {
            // The first failure is the one to report: a connection the failure closed (a network timeout) cannot
            // roll back or restore its mode, and saying so would hide why.
            try {
                c.rollback();
                c.setAutoCommit(auto);
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        c.setAutoCommit(auto);
    }

    private static PreparedStatement prepare(Connection c, String sql, Object[] params) throws SQLException {
        PreparedStatement ps = c.prepareStatement(sql);
        try {
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }
}
