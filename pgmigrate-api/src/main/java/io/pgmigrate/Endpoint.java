package io.pgmigrate;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One PostgreSQL server and how to log in to it. Immutable: every {@code with}-style method returns a new endpoint.
 * The password is never part of {@link #toString()}.
 *
 * <pre>{@code
 * Endpoint.of("jdbc:postgresql://old-db:5432/shop").user("pgmigrate").password(secret)
 * }</pre>
 *
 * @since 0.1.0
 */
public final class Endpoint {

    private static final String PREFIX = "jdbc:postgresql://";
    private static final int DEFAULT_PORT = 5432;

    private final String host;
    private final int port;
    private final String database;
    private final String user;
    private final String password;
    private final Path passfile;
    private final Map<String, String> properties;

    private Endpoint(String host, int port, String database, String user, String password, Path passfile,
                     Map<String, String> properties) {
        this.host = host;
        this.port = port;
        this.database = database;
        this.user = user;
        this.password = password;
        this.passfile = passfile;
        this.properties = Collections.unmodifiableMap(new LinkedHashMap<>(properties));
    }

    /**
     * Parses a pgjdbc URL such as {@code jdbc:postgresql://host:5432/db?sslmode=verify-full}. The database part is
     * optional; query parameters become connection properties ({@code user} and {@code password} there are taken as
     * such).
     *
     * @param jdbcUrl the URL, naming one host, without {@code user:password@} before it
     * @return the endpoint
     * @throws NullPointerException     if {@code jdbcUrl} is null
     * @throws IllegalArgumentException when the URL does not start with {@code jdbc:postgresql://}, carries a user or
     *                                  password before the host, names several hosts, has no host, has an
     *                                  unclosed IPv6 address or has a port that is not a number from 1 to 65535
     */
    public static Endpoint of(String jdbcUrl) {
        Objects.requireNonNull(jdbcUrl, "jdbcUrl");
        if (!jdbcUrl.startsWith(PREFIX)) {
            throw new IllegalArgumentException("endpoint URL must start with " + PREFIX + ", was: "
                    + redactUrl(jdbcUrl));
        }
        String rest = jdbcUrl.substring(PREFIX.length());
        String query = "";
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        String hostPort = rest;
        String db = null;
        int slash = rest.indexOf('/');
        if (slash >= 0) {
            hostPort = rest.substring(0, slash);
            String d = decode(rest.substring(slash + 1));
            db = d.isEmpty() ? null : d;
        }
        if (hostPort.contains("@")) {
            // Never echo this part: it usually holds user:password.
            throw new IllegalArgumentException("endpoint URL must not carry user or password before the host"
                    + " (user:password@host); use Endpoint.user(...) and password(...), or ?user= in the URL");
        }
        if (hostPort.contains(",")) {
            throw new IllegalArgumentException("endpoint URL names several hosts (" + hostPort
                    + "); give the one server to migrate from or to");
        }
        String h;
        int p = DEFAULT_PORT;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException("endpoint URL has an unclosed IPv6 address: " + hostPort);
            }
            h = hostPort.substring(1, close);
            String after = hostPort.substring(close + 1);
            if (after.startsWith(":")) {
                p = parsePort(after.substring(1), jdbcUrl);
            }
        } else {
            int colon = hostPort.lastIndexOf(':');
            if (colon >= 0) {
                h = hostPort.substring(0, colon);
                p = parsePort(hostPort.substring(colon + 1), jdbcUrl);
            } else {
                h = hostPort;
            }
        }
        if (h.isEmpty()) {
            throw new IllegalArgumentException("endpoint URL has no host: " + redactUrl(jdbcUrl));
        }
        String user = null;
        String password = null;
        Map<String, String> props = new LinkedHashMap<>();
        if (!query.isEmpty()) {
            for (String pair : query.split("&")) {
                if (pair.isEmpty()) {
                    continue;
                }
                int eq = pair.indexOf('=');
                String k = decode(eq < 0 ? pair : pair.substring(0, eq));
                String v = eq < 0 ? "" : decode(pair.substring(eq + 1));
                switch (k) {
                    case "user" -> user = v;
                    case "password" -> password = v;
                    default -> props.put(k, v);
                }
            }
        }
        return new Endpoint(h, p, db, user, password, null, props);
    }

    /**
     * An endpoint from its parts; {@code database} may be null.
     *
     * @param host     the server's host name or address, not blank
     * @param port     the server's port, 1 to 65535
     * @param database the database, or null for none
     * @return the endpoint, without user, password or properties
     * @throws NullPointerException     if {@code host} is null
     * @throws IllegalArgumentException when {@code host} is blank or {@code port} is outside 1 to 65535
     */
    public static Endpoint of(String host, int port, String database) {
        Objects.requireNonNull(host, "host");
        if (host.isBlank()) {
            throw new IllegalArgumentException("host must not be empty");
        }
        checkPort(port);
        return new Endpoint(host, port, database, null, null, null, Map.of());
    }

    /**
     * The role to log in as.
     *
     * @param user the role's name, not empty
     * @return a copy of this endpoint with that user
     * @throws NullPointerException     if {@code user} is null
     * @throws IllegalArgumentException when {@code user} is empty
     */
    public Endpoint user(String user) {
        Objects.requireNonNull(user, "user");
        if (user.isEmpty()) {
            throw new IllegalArgumentException("user must not be empty");
        }
        return new Endpoint(host, port, database, user, password, passfile, properties);
    }

    /**
     * The password; kept out of every string form of this object.
     *
     * @param password the password, or null for none
     * @return a copy of this endpoint with that password
     */
    public Endpoint password(String password) {
        return new Endpoint(host, port, database, user, password, passfile, properties);
    }

    /**
     * A libpq-style password file ({@code host:port:database:user:password} lines) to take the password from.
     *
     * @param passfile the file's path
     * @return a copy of this endpoint with that password file
     * @throws NullPointerException if {@code passfile} is null
     */
    public Endpoint passfile(Path passfile) {
        Objects.requireNonNull(passfile, "passfile");
        return new Endpoint(host, port, database, user, password, passfile, properties);
    }

    /**
     * The same server, another database.
     *
     * @param database the database, or null for none
     * @return a copy of this endpoint naming that database
     */
    public Endpoint database(String database) {
        return new Endpoint(host, port, database, user, password, passfile, properties);
    }

    /**
     * A pgjdbc connection property, such as {@code sslmode}, {@code sslrootcert} or {@code connectTimeout}.
     *
     * @param key   the property's name; not {@code user} or {@code password}
     * @param value its value
     * @return a copy of this endpoint with the property set, replacing an earlier value of the same key
     * @throws NullPointerException     if {@code key} or {@code value} is null
     * @throws IllegalArgumentException when {@code key} is {@code user} or {@code password}
     */
    public Endpoint property(String key, String value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        if (key.equals("password") || key.equals("user")) {
            throw new IllegalArgumentException("set " + key + " with " + key + "(...), not as a property");
        }
        Map<String, String> p = new LinkedHashMap<>(properties);
        p.put(key, value);
        return new Endpoint(host, port, database, user, password, passfile, p);
    }

    /**
     * The server's host.
     *
     * @return the host name or address; an IPv6 address without its brackets
     */
    public String host() {
        return host;
    }

    /**
     * The server's port.
     *
     * @return the port; 5432 when the URL names none
     */
    public int port() {
        return port;
    }

    /**
     * The database named in the URL, if any.
     *
     * @return the database's name; empty when none is named
     */
    public Optional<String> database() {
        return Optional.ofNullable(database);
    }

    /**
     * The role to log in as.
     *
     * @return the user; empty when none was given
     */
    public Optional<String> user() {
        return Optional.ofNullable(user);
    }

    /**
     * The password, for code that opens connections. Never log it.
     *
     * @return the password; empty when none was given
     */
    public Optional<String> password() {
        return Optional.ofNullable(password);
    }

    /**
     * The password file to take the password from.
     *
     * @return the file's path; empty when none was given
     */
    public Optional<Path> passfile() {
        return Optional.ofNullable(passfile);
    }

    /**
     * Connection properties other than user and password.
     *
     * @return the properties, unmodifiable, in the order they were first set
     */
    public Map<String, String> properties() {
        return properties;
    }

    /**
     * The pgjdbc URL of one database on this server, without credentials.
     *
     * @param databaseName the database
     * @return the URL with host, port and the URL-encoded database name; without the connection properties
     */
    public String jdbcUrl(String databaseName) {
        String h = host.contains(":") ? "[" + host + "]" : host;
        return PREFIX + h + ":" + port + "/" + java.net.URLEncoder.encode(databaseName, StandardCharsets.UTF_8)
                .replace("+", "%20");
    }

    /**
     * Whether this endpoint and {@code other} name the same server (host and port; {@code localhost} = 127.0.0.1).
     *
     * @param other the endpoint to compare with
     * @return true when the ports are equal and the hosts are equal ignoring case, every loopback name
     *         ({@code localhost}, {@code 127.0.0.1}, {@code ::1}) counting as one host
     */
    public boolean sameServerAs(Endpoint other) {
        return port == other.port && canonicalHost(host).equals(canonicalHost(other.host));
    }

    private static String canonicalHost(String h) {
        String l = h.toLowerCase(Locale.ROOT);
        return switch (l) {
            case "localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1" -> "loopback";
            default -> l;
        };
    }

    private static int parsePort(String text, String url) {
        try {
            int p = Integer.parseInt(text);
            checkPort(p);
            return p;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("endpoint URL has an invalid port '" + text + "': " + redactUrl(url));
        }
    }

    private static void checkPort(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port must be between 1 and 65535, was " + port);
        }
    }

    private static String decode(String s) {
        return URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    /** The URL with any {@code password=} parameter value replaced, for error messages. */
    static String redactUrl(String url) {
        // a query's password, and a URI's user:password@ (postgres://app:secret@db/shop)
        return url.replaceAll("(?i)(password=)[^&]*", "$1***").replaceAll("(//)[^/@?#]*@", "$1***@");
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Endpoint e && port == e.port && host.equals(e.host) && Objects.equals(database, e.database)
                && Objects.equals(user, e.user) && Objects.equals(password, e.password)
                && Objects.equals(passfile, e.passfile) && properties.equals(e.properties);
    }

    @Override
    public int hashCode() {
        return Objects.hash(host, port, database, user);
    }

    /** {@code postgresql://user@host:port/db}; never the password. */
    @Override
    public String toString() {
        String h = host.contains(":") ? "[" + host + "]" : host;
        return "postgresql://" + (user == null ? "" : user + "@") + h + ":" + port + "/"
                + (database == null ? "" : database);
    }
}
