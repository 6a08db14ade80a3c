package io.nioproxy.metrics;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line is a HELP or TYPE comment
 * or a sample; metric and label names match the spec's patterns; a family's TYPE comes before its samples and all
 * of a family's samples are contiguous; a summary's samples are NAME{quantile}, NAME_sum and NAME_count; counters'
 * names end in _total; values parse as floats. Anything else throws.
 */
public final class PrometheusText {
    static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})? (\\S+)");
    static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\[\"\\\\n])*)\"");

    record Sample(String name, Map<String, String> labels, double value) {
    }

    final Map<String, String> types = new LinkedHashMap<>();
    final List<Sample> samples = new ArrayList<>();

    public static PrometheusText parse(String text) {
        PrometheusText t = new PrometheusText();
        Set<String> closedFamilies = new HashSet<>();
        String current = null;
        Map<String, String> help = new HashMap<>();
        int lineNo = 0;
        for (String line : text.split("\n", -1)) {
            lineNo++;
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
                String[] parts = line.split(" ", 4);
                if (parts.length < 4 || !NAME.matcher(parts[2]).matches()) {
                    throw new IllegalArgumentException("line " + lineNo + ": bad comment: " + line);
                }
                if (line.startsWith("# TYPE ")) {
                    if (t.types.containsKey(parts[2])) {
                        throw new IllegalArgumentException("line " + lineNo + ": second TYPE for " + parts[2]);
                    }
                    if (!Set.of("counter", "gauge", "summary", "histogram", "untyped").contains(parts[3])) {
                        throw new IllegalArgumentException("line " + lineNo + ": unknown type " + parts[3]);
                    }
                    if (parts[3].equals("counter") && !parts[2].endsWith("_total")) {
                        throw new IllegalArgumentException("line " + lineNo + ": counter not named _total: " + parts[2]);
                    }
                    t.types.put(parts[2], parts[3]);
                } else {
                    help.put(parts[2], parts[3]);
                }
                continue;
            }
            if (line.startsWith("#")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line);
            if (!m.matches()) {
                throw new IllegalArgumentException("line " + lineNo + ": not a sample: " + line);
            }
            String name = m.group(1);
            String family = familyOf(name, t.types);
            if (family == null) {
                throw new IllegalArgumentException("line " + lineNo + ": sample before its TYPE: " + line);
            }
            if (!family.equals(current)) {
                if (closedFamilies.contains(family)) {
                    throw new IllegalArgumentException("line " + lineNo + ": family " + family + " is not contiguous");
                }
                if (current != null) {
                    closedFamilies.add(current);
                }
                current = family;
            }
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(3) != null && !m.group(3).isEmpty()) {
                String rest = m.group(3);
                Matcher lm = LABEL.matcher(rest);
                int pos = 0;
                while (pos < rest.length()) {
                    if (!lm.find(pos) || lm.start() != pos) {
                        throw new IllegalArgumentException("line " + lineNo + ": bad labels: " + rest);
                    }
                    labels.put(lm.group(1), lm.group(2));
                    pos = lm.end();
                    if (pos < rest.length()) {
                        if (rest.charAt(pos) != ',') {
                            throw new IllegalArgumentException("line " + lineNo + ": bad labels: " + rest);
                        }
                        pos++;
                    }
                }
            }
            if (t.types.get(family).equals("summary") && name.equals(family) && !labels.containsKey("quantile")) {
                throw new IllegalArgumentException("line " + lineNo + ": summary sample without quantile");
            }
            double v;
            String raw = m.group(4);
            v = switch (raw) {
                case "NaN" -> Double.NaN;
                case "+Inf" -> Double.POSITIVE_INFINITY;
                case "-Inf" -> Double.NEGATIVE_INFINITY;
                default -> Double.parseDouble(raw);
            };
            t.samples.add(new Sample(name, labels, v));
        }
        for (String f : t.types.keySet()) {
            if (!help.containsKey(f)) {
                throw new IllegalArgumentException("no HELP for " + f);
            }
        }
        return t;
    }

    private static String familyOf(String name, Map<String, String> types) {
        if (types.containsKey(name)) {
            return name;
        }
        for (String suffix : new String[] {"_sum", "_count", "_bucket"}) {
            if (name.endsWith(suffix)) {
                String base = name.substring(0, name.length() - suffix.length());
                String type = types.get(base);
                if ("summary".equals(type) || "histogram".equals(type)) {
                    return base;
                }
            }
        }
        return null;
    }

    /** The value of the one sample with this name and these labels (a subset match); fails if none or several. */
    public double value(String name, String... kv) {
        List<Sample> found = matching(name, kv);
        if (found.size() != 1) {
            throw new IllegalArgumentException(found.size() + " samples match " + name + " " + List.of(kv));
        }
        return found.get(0).value();
    }

    /** Sum of every sample with this name and matching labels. */
    public double sum(String name, String... kv) {
        return matching(name, kv).stream().mapToDouble(Sample::value).sum();
    }

    private List<Sample> matching(String name, String... kv) {
        List<Sample> out = new ArrayList<>();
        for (Sample s : samples) {
            boolean match = s.name().equals(name);
            for (int i = 0; match && i < kv.length; i += 2) {
                match = kv[i + 1].equals(s.labels().get(kv[i]));
            }
            if (match) {
                out.add(s);
            }
        }
        return out;
    }
}
