#!/usr/bin/env bash
# nginx in front of several `kit serve` processes, from deploy/nginx/kit.conf.template.
#
#   scripts/start-nginx.sh --listen 127.0.0.1:8870 --upstream 127.0.0.1:8871 \
#       --upstream 127.0.0.1:8872 --dir var/nginx
#       writes var/nginx/kit.conf and var/nginx/nginx.conf, checks them (nginx -t) and runs nginx
#       in the foreground (no daemon, no system service); Ctrl-C or SIGTERM stops it.
#   scripts/start-nginx.sh --render --listen '443 ssl' --server-name profil.example.org \
#       --upstream 127.0.0.1:8871 --upstream 127.0.0.1:8872 \
#       --tls-cert /etc/ssl/kit.pem --tls-key /etc/ssl/private/kit.key > /etc/nginx/conf.d/kit.conf
#       prints only the http-level configuration, for a server's own nginx.
#
# Options: --max-fails N (default 1) and --fail-timeout S (default 10s): a process that fails is
# left out for S seconds; --log-dir DIR (default: --dir, or /var/log/nginx with --render).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TEMPLATE="$ROOT/deploy/nginx/kit.conf.template"
MAIN_TEMPLATE="$ROOT/deploy/nginx/nginx.conf.template"
NGINX="${NGINX:-nginx}"

listen="" server_name="_" dir="" log_dir="" render=0 tls_cert="" tls_key=""
max_fails=1 fail_timeout=10s
upstreams=()
die() { echo "start-nginx: $*" >&2; exit 2; }
while (($#)); do
    case "$1" in
        --listen) listen="${2:?--listen needs an address}"; shift 2 ;;
        --upstream) upstreams+=("${2:?--upstream needs host:port}"); shift 2 ;;
        --server-name) server_name="${2:?}"; shift 2 ;;
        --dir) dir="${2:?--dir needs a directory}"; shift 2 ;;
        --log-dir) log_dir="${2:?}"; shift 2 ;;
        --tls-cert) tls_cert="${2:?}"; shift 2 ;;
        --tls-key) tls_key="${2:?}"; shift 2 ;;
        --max-fails) max_fails="${2:?}"; shift 2 ;;
        --fail-timeout) fail_timeout="${2:?}"; shift 2 ;;
        --render) render=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option '$1'; see --help" ;;
    esac
done
[[ -n "$listen" ]] || die "give the address to listen on, e.g. --listen 127.0.0.1:8870"
for value in "$listen" "$server_name" "$dir" "$log_dir" "$tls_cert" "$tls_key"; do
    [[ "$value" != *[\;\{\}$'\n']* ]] || die "'$value' may not contain ';', '{', '}' or a line break"
done
((${#upstreams[@]})) || die "give each kit serve process with --upstream 127.0.0.1:PORT"
for u in "${upstreams[@]}"; do
    [[ "$u" =~ ^[^[:space:]\;{}]+:[0-9]+$ ]] || die "--upstream '$u' is not host:port"
done
[[ "$max_fails" =~ ^[0-9]+$ ]] || die "--max-fails '$max_fails' is not a whole number"
[[ "$fail_timeout" =~ ^[0-9]+(ms|s|m)?$ ]] || die "--fail-timeout '$fail_timeout' is not a time"
if [[ -n "$tls_cert$tls_key" && ( -z "$tls_cert" || -z "$tls_key" ) ]]; then
    die "give both --tls-cert and --tls-key, or neither"
fi

servers=""
for u in "${upstreams[@]}"; do
    servers+="server $u max_fails=$max_fails fail_timeout=$fail_timeout;"$'\n'
done
tls=""
if [[ -n "$tls_cert" ]]; then
    tls="ssl_certificate $tls_cert;"$'\n'"ssl_certificate_key $tls_key;"$'\n'
fi

# Replace each line holding only @@NAME@@ by the value's lines (same indentation), and
# @@NAME@@ inside a line by a one-line value.
fill() {
    SERVERS="$servers" TLS="$tls" LISTEN="$listen" SERVER_NAME="$server_name" \
    LOG_DIR="$1" DIR="$2" USER_LINE="$3" awk '
        function block(name, indent,   n, i, parts, out) {
            n = split(ENVIRON[name], parts, "\n"); out = ""
            for (i = 1; i <= n; i++) if (parts[i] != "") out = out indent parts[i] "\n"
            return out
        }
        /^[ \t]*@@UPSTREAM_SERVERS@@[ \t]*$/ { match($0, /^[ \t]*/); printf "%s", block("SERVERS", substr($0, 1, RLENGTH)); next }
        /^[ \t]*@@TLS@@[ \t]*$/ { match($0, /^[ \t]*/); printf "%s", block("TLS", substr($0, 1, RLENGTH)); next }
        /^[ \t]*@@USER@@[ \t]*$/ { if (ENVIRON["USER_LINE"] != "") print ENVIRON["USER_LINE"]; next }
        {
            gsub(/@@LISTEN@@/, ENVIRON["LISTEN"]); gsub(/@@SERVER_NAME@@/, ENVIRON["SERVER_NAME"])
            gsub(/@@LOG_DIR@@/, ENVIRON["LOG_DIR"]); gsub(/@@DIR@@/, ENVIRON["DIR"])
            print
        }'
}

if ((render)); then
    fill "${log_dir:-/var/log/nginx}" "" "" <"$TEMPLATE"
    exit 0
fi

[[ -n "$dir" ]] || die "give a directory for the configuration, logs and pid with --dir"
command -v "$NGINX" >/dev/null || die "nginx is not installed; run 'bash scripts/setup.sh --test'"
mkdir -p "$dir/tmp"
dir="$(cd "$dir" && pwd)"
chmod 755 "$dir" "$dir/tmp"
log_dir="${log_dir:-$dir}"
user_line=""
if [[ "$(id -u)" == "0" ]]; then
    user_line="user nobody nogroup;"  # nginx's default group 'nobody' does not exist on Debian
fi
fill "$log_dir" "$dir" "" <"$TEMPLATE" >"$dir/kit.conf"
fill "$log_dir" "$dir" "$user_line" <"$MAIN_TEMPLATE" >"$dir/nginx.conf"
"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    || die "nginx refused the configuration in $dir (see the lines above)"
exec "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
