package io.pgmigrate;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Applies settings given as text (a properties file) to a {@link MigrationBuilder}: each key is the name of a builder
 * method, its value the method's argument. See {@link MigrationBuilder#configure(Map)}.
 */
final class BuilderProperties {

    /** Builder methods taking an {@link Endpoint}, whose {@code key.method} sub-keys call the endpoint's methods. */
    private static final Set<String> ENDPOINTS = Set.of("source", "target", "sourceAsSeenByTarget",
            "targetAsSeenBySource");
    private static final Pattern ENV = Pattern.compile("\\$\\{env:([A-Za-z_][A-Za-z0-9_]*)}");
    private static final Pattern AMOUNT = Pattern.compile("(\\d+)\\s*([a-zA-Z]*)");

    private BuilderProperties() {
    }

    static void apply(MigrationBuilder builder, Map<String, String> settings, Map<String, String> environment) {
        Map<String, String> values = new TreeMap<>();
        settings.forEach((k, v) -> {
            String key = k.strip();
            if (v == null || v.isBlank()) {
                throw new IllegalArgumentException(key + " has no value; give one, or leave the key out for the"
                        + " default");
            }
            // not stripped: a password may end with a space (a properties file drops only the leading ones)
            values.put(key, substitute(key, v, environment));
        });
        // endpoints first, with their sub-keys; then every other key in alphabetical order
        for (String endpoint : List.of("source", "target", "sourceAsSeenByTarget", "targetAsSeenBySource")) {
            String url = values.remove(endpoint);
            Map<String, String> sub = new TreeMap<>();
            for (String k : new ArrayList<>(values.keySet())) {
                if (k.startsWith(endpoint + ".")) {
                    sub.put(k.substring(endpoint.length() + 1), values.remove(k));
                }
            }
            if (url == null) {
                if (!sub.isEmpty()) {
                    throw new IllegalArgumentException(endpoint + "." + sub.keySet().iterator().next() + " is set but "
                            + endpoint + " is not: give " + endpoint + "=jdbc:postgresql://host:port/");
                }
                continue;
            }
            Endpoint e;
            try {
                e = Endpoint.of(url.strip());
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException(endpoint + ": " + bad.getMessage(), bad);
            }
            for (Map.Entry<String, String> s : sub.entrySet()) {
                e = endpointSetting(endpoint, e, s.getKey(), s.getValue());
            }
            invoke(builder, method(endpoint, Endpoint.class), endpoint, e);
        }
        for (Map.Entry<String, String> s : values.entrySet()) {
            set(builder, s.getKey(), s.getValue());
        }
    }

    /** {@code ${env:NAME}} in a value is the environment variable's value, so a file needs no password in it. */
    private static String substitute(String key, String value, Map<String, String> environment) {
        Matcher m = ENV.matcher(value);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String v = environment.get(m.group(1));
            if (v == null) {
                throw new IllegalArgumentException(key + " refers to the environment variable " + m.group(1)
                        + ", which is not set");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(v));
        }
        m.appendTail(out);
        if (ENV.matcher(value).replaceAll("").contains("${")) {
            throw new IllegalArgumentException(key + " has a reference that is not ${env:NAME} (NAME of letters, digits"
                    + " and underscores)");
        }
        return out.toString();
    }

    private static Endpoint endpointSetting(String endpoint, Endpoint e, String key, String value) {
        switch (key) {
            case "user":
                return e.user(value.strip());
            case "password":
                return e.password(value);
            case "passfile":
                return e.passfile(Path.of(value.strip()));
            case "database":
                return e.database(value.strip());
            default:
                if (key.startsWith("property.")) {
                    return e.property(key.substring("property.".length()), value);
                }
                throw new IllegalArgumentException("unknown setting " + endpoint + "." + key + "; an endpoint takes "
                        + endpoint + ".user, .password, .passfile, .database and .property.<pgjdbc property>");
        }
    }

    private static void set(MigrationBuilder builder, String key, String raw) {
        String value = raw.strip();
        List<Method> candidates = Arrays.stream(MigrationBuilder.class.getMethods())
                .filter(m -> m.getName().equals(key) && m.getParameterCount() == 1
                        && !Modifier.isStatic(m.getModifiers()) && m.getReturnType() == MigrationBuilder.class)
                .toList();
        if (candidates.isEmpty()) {
            throw new IllegalArgumentException("unknown setting " + key + "; the settings are the builder's methods: "
                    + settable());
        }
        // a collection overload is the same setting as its varargs one
        Method m = candidates.stream().filter(c -> c.getParameterTypes()[0].isArray()).findFirst()
                .orElse(candidates.get(0));
        Class<?> type = m.getParameterTypes()[0];
        if (!convertible(type)) {
            throw new IllegalArgumentException(key + " cannot be set from text (it takes a " + type.getSimpleName()
                    + "); set it in code");
        }
        invoke(builder, m, key, convert(key, type, value));
    }

    private static Method method(String name, Class<?> type) {
        try {
            return MigrationBuilder.class.getMethod(name, type);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void invoke(MigrationBuilder builder, Method m, String key, Object value) {
        try {
            m.invoke(builder, value);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
            throw new IllegalArgumentException(key + ": " + message, cause);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static boolean convertible(Class<?> type) {
        Class<?> t = type.isArray() ? type.getComponentType() : type;
        return t == String.class || t == int.class || t == long.class || t == boolean.class || t == Duration.class
                || t == Path.class || t.isEnum();
    }

    private static Object convert(String key, Class<?> type, String value) {
        if (type.isArray()) {
            List<String> items = Arrays.stream(value.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
            Object array = java.lang.reflect.Array.newInstance(type.getComponentType(), items.size());
            for (int i = 0; i < items.size(); i++) {
                java.lang.reflect.Array.set(array, i, convert(key, type.getComponentType(), items.get(i)));
            }
            return array;
        }
        try {
            if (type == String.class) {
                return value;
            } else if (type == int.class) {
                return Math.toIntExact(amount(value));
            } else if (type == long.class) {
                return amount(value);
            } else if (type == boolean.class) {
                if (!value.equalsIgnoreCase("true") && !value.equalsIgnoreCase("false")) {
                    throw new IllegalArgumentException("not true or false");
                }
                return Boolean.parseBoolean(value);
            } else if (type == Duration.class) {
                return duration(value);
            } else if (type == Path.class) {
                return Path.of(value);
            } else {
                @SuppressWarnings({"unchecked", "rawtypes"})
                Object constant = Enum.valueOf((Class<Enum>) type, value.toUpperCase(Locale.ROOT));
                return constant;
            }
        } catch (IllegalArgumentException | ArithmeticException | DateTimeParseException e) {
            String expected = type.isEnum() ? "one of " + Arrays.toString(type.getEnumConstants())
                    : type == Duration.class ? "a duration such as 30s, 500ms, 5m, 1h or PT30S"
                    : type == long.class || type == int.class ? "a whole number, optionally with kB, MB, GB (1000) or"
                    + " KiB, MiB, GiB (1024)" : type.getSimpleName();
            throw new IllegalArgumentException(key + "=" + value + " is not " + expected, e);
        }
    }

    private static long amount(String value) {
        Matcher m = AMOUNT.matcher(value.replace("_", ""));
        if (!m.matches()) {
            throw new IllegalArgumentException("not a number");
        }
        long n = Long.parseLong(m.group(1));
        long unit = switch (m.group(2)) {
            case "" -> 1;
            case "kB" -> 1000;
            case "MB" -> 1000_000;
            case "GB" -> 1000_000_000;
            case "KiB" -> 1024;
            case "MiB" -> 1024 * 1024;
            case "GiB" -> 1024L * 1024 * 1024;
            default -> throw new IllegalArgumentException("unknown unit " + m.group(2));
        };
        return Math.multiplyExact(n, unit);
    }

    private static Duration duration(String value) {
        if (value.startsWith("P") || value.startsWith("p")) {
            return Duration.parse(value);
        }
        Matcher m = AMOUNT.matcher(value);
        if (!m.matches()) {
            throw new IllegalArgumentException("not a duration");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "ms" -> Duration.ofMillis(n);
            case "s", "" -> Duration.ofSeconds(n);
            case "m", "min" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            case "d" -> Duration.ofDays(n);
            default -> throw new IllegalArgumentException("unknown unit " + m.group(2));
        };
    }

    /** Every setting that can come from text, for error messages. */
    static Set<String> settable() {
        Set<String> names = new TreeSet<>();
        for (Method m : MigrationBuilder.class.getMethods()) {
            if (m.getParameterCount() == 1 && m.getReturnType() == MigrationBuilder.class
                    && !Modifier.isStatic(m.getModifiers())
                    && (convertible(m.getParameterTypes()[0]) || ENDPOINTS.contains(m.getName()))
                    && !m.getName().equals("configure")) {
                names.add(m.getName());
            }
        }
        return names;
    }
}
