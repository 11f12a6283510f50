#!/usr/bin/env bash
# packaging/grafana-dashboard.json: valid JSON, and every panel's PromQL
# parses (promtool check rules, with $instance as ".*") and names only
# families weft-plugin exports (README's metrics table).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DASH="${1:-$REPO/packaging/grafana-dashboard.json}"
fail() { echo "FAIL [grafana_dashboard_check]: $*" >&2; exit 1; }
command -v jq >/dev/null || fail "needs jq"
command -v promtool >/dev/null || fail "needs promtool (Debian package prometheus)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
jq -e '.panels | length > 0' "$DASH" >/dev/null || fail "no panels"
{
  echo "groups:"
  echo "  - name: dashboard"
  echo "    rules:"
  n=0
  while IFS= read -r expr; do
    n=$((n + 1))
    printf '      - record: dashboard:expr%d\n        expr: %s\n' "$n" "$(jq -Rn --arg e "${expr//\$instance/.*}" '$e')"
  done < <(jq -r '.panels[].targets[].expr' "$DASH")
} >"$tmp/rules.yml"
promtool check rules "$tmp/rules.yml" >"$tmp/out" 2>&1 || fail "PromQL does not parse: $(cat "$tmp/out")"
for family in $(jq -r '.panels[].targets[].expr' "$DASH" | grep -o 'weft_[a-z_]*' | sort -u); do
  base="${family%_bucket}"
  grep -q "\`$base\`" "$REPO/README.md" || fail "$family is not a family README's metrics table lists"
done
echo "PASS [grafana_dashboard_check]: $(jq '[.panels[].targets[]] | length' "$DASH") expressions" >&2
