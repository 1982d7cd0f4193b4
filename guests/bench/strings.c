/*
 * String processing: a C-like tokenizer over generated source text
 * (character classes, keywords looked up by string compare) and a
 * backtracking regular-expression matcher (literals, '.', '*', '^', '$')
 * run over every line of the text.
 */
#include "bench.h"

#define TEXT_BYTES 6144

static char text[TEXT_BYTES + 1];

static const char *const pieces[] = {
    "int ", "count", " = ", "0", ";\n", "while ", "(", "x", " < ", "limit", ") ",
    "{ ", "}\n", "return ", "total", " + ", "42", "*", "ptr->next", ", ", "if ",
    "else ", "0x1f", " == ", "name_7", "\"str\"", " >> ", "3", "for ", "char ",
};

static const char *const keywords[] = { "int", "while", "return", "if", "else", "for", "char" };

static const char *const patterns[] = {
    "^int .*;$", "x < [a-z]*", "ptr->ne*xt", "0x1.", "^.*return.*42", "a*b", "name_.?7", "}$",
};

static void make_text(u32 s)
{
    u32 n = 0;
    while (n < TEXT_BYTES) {
        const char *p = pieces[xorshift32(&s) % ARRAY_LEN(pieces)];
        while (*p && n < TEXT_BYTES)
            text[n++] = *p++;
    }
    text[TEXT_BYTES] = 0;
}

static inline int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static inline int is_digit(int c) { return c >= '0' && c <= '9'; }

static int str_eq(const char *a, u32 n, const char *kw)
{
    u32 i;
    for (i = 0; i < n; i++)
        if (kw[i] != a[i])
            return 0;
    return kw[n] == 0;
}

/* Token counts by class, folded with the tokens' lengths. */
static NOINLINE u32 tokenize(void)
{
    const char *p = text;
    u32 h = 0, idents = 0, kws = 0, nums = 0, ops = 0, strs = 0;

    while (*p) {
        const char *start = p;
        u32 cls;
        if (*p == ' ' || *p == '\n') { p++; continue; }
        if (is_alpha(*p)) {
            u32 k;
            while (is_alpha(*p) || is_digit(*p)) p++;
            cls = 1;
            for (k = 0; k < ARRAY_LEN(keywords); k++)
                if (str_eq(start, (u32)(p - start), keywords[k])) { cls = 2; break; }
            if (cls == 1) idents++; else kws++;
        } else if (is_digit(*p)) {
            if (p[0] == '0' && p[1] == 'x') p += 2;
            while (is_digit(*p) || (*p >= 'a' && *p <= 'f')) p++;
            cls = 3; nums++;
        } else if (*p == '"') {
            p++;
            while (*p && *p != '"') p++;
            if (*p) p++;
            cls = 4; strs++;
        } else {
            if ((p[0] == '-' && p[1] == '>') || (p[0] == '=' && p[1] == '=') ||
                (p[0] == '>' && p[1] == '>'))
                p += 2;
            else
                p++;
            cls = 5; ops++;
        }
        h = h * 131u + cls * 16u + (u32)(p - start);
    }
    return mix(mix(h, idents << 16 | kws), nums << 20 | ops << 8 | strs);
}

/* The matcher: does re match at the start of s (within [s, end))? */
static int match_here(const char *re, const char *s, const char *end);

static int match_star(int c, const char *re, const char *s, const char *end)
{
    do {
        if (match_here(re, s, end))
            return 1;
    } while (s < end && (*s++ == c || c == '.'));
    return 0;
}

static int match_here(const char *re, const char *s, const char *end)
{
    if (re[0] == 0)
        return 1;
    if (re[1] == '*')
        return match_star(re[0], re + 2, s, end);
    if (re[1] == '?')
        return (s < end && (re[0] == '.' || *s == re[0]) && match_here(re + 2, s + 1, end))
               || match_here(re + 2, s, end);
    if (re[0] == '$' && re[1] == 0)
        return s == end;
    if (s < end && (re[0] == '.' || re[0] == *s))
        return match_here(re + 1, s + 1, end);
    return 0;
}

static NOINLINE int match(const char *re, const char *s, const char *end)
{
    if (re[0] == '^')
        return match_here(re + 1, s, end);
    do {
        if (match_here(re, s, end))
            return 1;
    } while (s++ < end);
    return 0;
}

static NOINLINE u32 grep(void)
{
    const char *line = text, *end;
    u32 k, h = 0, lines = 0;

    while (*line) {
        for (end = line; *end && *end != '\n'; end++)
            ;
        for (k = 0; k < ARRAY_LEN(patterns); k++)
            h = h * 3u + (u32)match(patterns[k], line, end) * (k + 1);
        lines++;
        line = *end ? end + 1 : end;
    }
    return mix(h, lines);
}

u32 workload(u32 rounds)
{
    u32 r, h = 0x9E3779B1u;

    for (r = 0; r < rounds; r++) {
        make_text(round_seed(h, r));
        h = mix(h, tokenize());
        h = mix(h, grep());
    }
    return mix(h, rounds);
}
