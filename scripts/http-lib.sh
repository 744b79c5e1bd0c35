# Shared by the HTTP benchmark scripts (sourced, not run).

# Installs wrk from Debian's packages if it is missing.
need_wrk() {
    if ! command -v wrk >/dev/null; then
        echo "installing wrk"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
    fi
}

# Waits (up to 5 s) until the service answers GET /health on 127.0.0.1:$1.
wait_health() {
    for _ in $(seq 1 100); do
        python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
            "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "the service on port $1 did not answer /health within 5 s" >&2
    return 1
}

# wrk's POST body for /events.
post_lua() {
    printf 'wrk.method = "POST"\nwrk.body = "{\\"kind\\":\\"login\\",\\"user\\":42}"\n' >"$1"
}
