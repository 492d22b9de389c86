/*
 * uhid-bridge: test support for `make hw-test`, run inside the QEMU guest.
 *
 * Creates one USB HID device through the kernel's UHID driver, with the report
 * descriptor of a real FIDO key, so hid-generic exposes it as /dev/hidrawN just
 * as it does a plugged-in key; then relays fixed 64-byte CTAPHID reports between
 * that device and a serial port whose other end (on the host) is a peer
 * authenticator speaking the same bare-64-byte-report format:
 *   UHID_OUTPUT (what glasskey wrote to hidraw)  -> serial
 *   serial (64 bytes)                            -> UHID_INPUT2 (what glasskey reads)
 *
 * usage: uhid-bridge TTY VID PID NAME DESCRIPTOR_HEX [--yank-on-cbor CMD]
 *   TTY "none"          a silent key: reports from the host are read and dropped,
 *                       nothing ever answers.
 *   --yank-on-cbor CMD  destroy the device (a yanked key) instead of forwarding the
 *                       first CTAPHID CBOR request whose CTAP command byte is CMD.
 * Prints "bridge: ready /dev/uhid" once the device exists; "bridge: yanked" on a yank.
 * Built with gcc -static: the guest has no C library of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/uhid.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REPORT 64
#define CTAPHID_CBOR 0x90

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int uhid_write(int fd, const struct uhid_event *ev) {
	ssize_t n = write(fd, ev, sizeof(*ev));
	if (n != (ssize_t)sizeof(*ev)) {
		fprintf(stderr, "bridge: uhid write: %s\n", n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int open_raw_tty(const char *path) {
	int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bridge: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct termios t;
	if (tcgetattr(fd, &t) != 0) {
		fprintf(stderr, "bridge: tcgetattr %s: %s\n", path, strerror(errno));
		return -1;
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~CRTSCTS;
	t.c_iflag &= ~(IXON | IXOFF | IXANY);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	cfsetspeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t) != 0) {
		fprintf(stderr, "bridge: tcsetattr %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Bytes a previous bridge left unread would shift every later report: drop
	   whatever arrives until the line has been quiet for 300 ms. */
	tcflush(fd, TCIFLUSH);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char junk[256];
		if (poll(&p, 1, 300) <= 0) break;
		if (read(fd, junk, sizeof junk) <= 0) break;
	}
	return fd;
}

static int write_all(int fd, const unsigned char *b, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 6) {
		fprintf(stderr, "usage: %s TTY VID PID NAME DESCRIPTOR_HEX [--yank-on-cbor CMD]\n", argv[0]);
		return 2;
	}
	int yank_cmd = -1;
	if (argc >= 8 && strcmp(argv[6], "--yank-on-cbor") == 0) yank_cmd = (int)strtol(argv[7], NULL, 0);

	struct uhid_event ev;
	memset(&ev, 0, sizeof ev);
	ev.type = UHID_CREATE2;
	snprintf((char *)ev.u.create2.name, sizeof ev.u.create2.name, "%s", argv[4]);
	snprintf((char *)ev.u.create2.phys, sizeof ev.u.create2.phys, "uhid-bridge:%s", argv[1]);
	const char *hex = argv[5];
	size_t len = strlen(hex) / 2;
	if (len == 0 || len > sizeof ev.u.create2.rd_data) {
		fprintf(stderr, "bridge: bad descriptor length\n");
		return 2;
	}
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "bridge: descriptor is not hex\n");
			return 2;
		}
		ev.u.create2.rd_data[i] = (unsigned char)(hi << 4 | lo);
	}
	ev.u.create2.rd_size = (unsigned short)len;
	ev.u.create2.bus = BUS_USB;
	ev.u.create2.vendor = (unsigned)strtoul(argv[2], NULL, 0);
	ev.u.create2.product = (unsigned)strtoul(argv[3], NULL, 0);
	ev.u.create2.version = 0x0100;

	int silent = strcmp(argv[1], "none") == 0;
	int tty = silent ? -1 : open_raw_tty(argv[1]);
	if (tty < 0 && !silent) return 1;
	int uhid = open("/dev/uhid", O_RDWR | O_CLOEXEC);
	if (uhid < 0) {
		fprintf(stderr, "bridge: /dev/uhid: %s\n", strerror(errno));
		return 1;
	}
	if (uhid_write(uhid, &ev) != 0) return 1;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("bridge: ready %s %s:%s\n", argv[1], argv[2], argv[3]);
	fflush(stdout);

	unsigned char in[REPORT];
	size_t have = 0;
	while (!stop) {
		struct pollfd p[2] = {{.fd = uhid, .events = POLLIN}, {.fd = tty, .events = POLLIN}};
		if (poll(p, 2, 1000) < 0) {
			if (errno == EINTR) continue;
			break;
		}
		if (p[0].revents & POLLIN) {
			struct uhid_event e;
			ssize_t n = read(uhid, &e, sizeof e);
			if (n <= 0) break;
			if (e.type == UHID_OUTPUT) {
				/* hidraw hands on the report id byte (0 for FIDO) in front of the report. */
				unsigned char *r = e.u.output.data;
				size_t size = e.u.output.size;
				if (size == REPORT + 1 && r[0] == 0) { r++; size--; }
				if (size != REPORT) {
					fprintf(stderr, "bridge: dropped a %zu-byte output report\n", size);
					continue;
				}
				/* CTAPHID init packet: cid(4) cmd(1) bcnt(2) data...; data[0] is the CTAP command. */
				if (yank_cmd >= 0 && r[4] == CTAPHID_CBOR && r[7] == yank_cmd) {
					struct uhid_event d;
					memset(&d, 0, sizeof d);
					d.type = UHID_DESTROY;
					uhid_write(uhid, &d);
					printf("bridge: yanked on CTAP command 0x%02x\n", yank_cmd);
					fflush(stdout);
					return 0;
				}
				if (silent) continue;
				if (write_all(tty, r, REPORT) != 0) {
					fprintf(stderr, "bridge: serial write: %s\n", strerror(errno));
					break;
				}
			} else if (e.type == UHID_GET_REPORT) {
				struct uhid_event a;
				memset(&a, 0, sizeof a);
				a.type = UHID_GET_REPORT_REPLY;
				a.u.get_report_reply.id = e.u.get_report.id;
				a.u.get_report_reply.err = EIO;
				uhid_write(uhid, &a);
			} else if (e.type == UHID_SET_REPORT) {
				struct uhid_event a;
				memset(&a, 0, sizeof a);
				a.type = UHID_SET_REPORT_REPLY;
				a.u.set_report_reply.id = e.u.set_report.id;
				a.u.set_report_reply.err = EIO;
				uhid_write(uhid, &a);
			}
		}
		if (p[1].revents & POLLIN) {
			ssize_t n = read(tty, in + have, REPORT - have);
			if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
			if (n <= 0) break;
			have += (size_t)n;
			if (have == REPORT) {
				struct uhid_event e;
				memset(&e, 0, sizeof e);
				e.type = UHID_INPUT2;
				e.u.input2.size = REPORT;
				memcpy(e.u.input2.data, in, REPORT);
				if (uhid_write(uhid, &e) != 0) break;
				have = 0;
			}
		}
	}
	memset(&ev, 0, sizeof ev);
	ev.type = UHID_DESTROY;
	uhid_write(uhid, &ev);
	return 0;
}
