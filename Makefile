# kiln build. `make` builds build/kiln; `make run` boots the default guest;
# `make test` runs every test; `make bench` runs the benchmarks.
# `make web` builds the browser dashboard's files into build/web/ (needs npm; docs/web.md).
# SAN=1 builds everything with AddressSanitizer + UBSan into build/san/.

# Debian's libfdt-dev ships no pkg-config file, so it is linked by name.
PKGS     :=
CC       ?= gcc
ifeq ($(SAN),1)
OUT      := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT      := -O1
else
OUT      := build
SANFLAGS :=
OPT      := -O2
endif
# pkg-config runs the first time a compile or link needs it, not when the Makefile is
# read: on a fresh machine `make run` / `make test` install it (deps) before that.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags slirp glib-2.0 zlib))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs slirp glib-2.0 zlib))$(PKG_LIBS)
CFLAGS   = -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -pthread \
            $(SANFLAGS) $(PKG_CFLAGS)
LDFLAGS  := -pthread $(SANFLAGS)
LDLIBS   = -lfdt -lm $(PKG_LIBS) -ljson-c -lsqlite3

LIB_SRC  := $(shell find src -name '*.c' ! -path 'src/cli/*' | sort)
CLI_SRC  := $(shell find src/cli -name '*.c' | sort)
LIB_OBJ  := $(LIB_SRC:%.c=$(OUT)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(OUT)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
# The jail's seccomp filters (src/jail/, libseccomp-dev; its pkg-config adds no cflags).
LDLIBS   += -lseccomp
# SHA-1 and base64 of the web gateway's WebSocket handshake (src/api/websocket.c, libssl-dev).
LDLIBS   += -lcrypto

.PHONY: all deps guest run test unit bench clean fuzz web
all: $(OUT)/kiln $(OUT)/kiln-runc

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/kiln: $(CLI_OBJ) $(OUT)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The OCI runtime under the name engines are given (docs/oci.md): kiln picks it by argv[0].
$(OUT)/kiln-runc: $(OUT)/kiln
	ln -sf kiln $@

$(OUT)/tests/%: tests/unit/%.c $(OUT)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(OUT)/libkiln.a $(LDFLAGS) $(LDLIBS) -lcmocka

unit: $(UNIT_BIN)

deps:
	@scripts/deps.sh

guest: deps
	@guest/build.sh

# deps first, then the rest in a new make: nothing is built (or pkg-config asked)
# before the build dependencies are installed, even with -j.
run: deps
	@$(MAKE) --no-print-directory all
	@guest/build.sh
	@scripts/run-default.sh

# The web page is built when npm is there (deps.sh installs it); kiln itself never needs node.
test: deps
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory web || \
	    echo "make web failed: tests/integration/test_web.py will skip"; fi
	@tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@guest/build.sh
	@bench/run.sh

fuzz:
	@tests/fuzz/build.sh

# The dashboard (web/src/) and xterm.js from npm, at the versions web/package-lock.json
# pins; nothing is fetched when the page loads. `kiln web` finds build/web next to
# build/kiln (or --assets DIR, $$KILN_WEB_DIR, ../share/kiln/web).
WEB_NPM  := web/node_modules/.package-lock.json
WEB_VEND := web/node_modules/@xterm/xterm/lib/xterm.js web/node_modules/@xterm/xterm/css/xterm.css \
            web/node_modules/@xterm/addon-fit/lib/addon-fit.js
web: $(WEB_NPM)
	@mkdir -p $(OUT)/web
	@cp web/src/index.html web/src/app.js web/src/app.css $(WEB_VEND) $(OUT)/web/
	@echo "built $(OUT)/web"

$(WEB_NPM): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

clean:
	rm -rf build

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
