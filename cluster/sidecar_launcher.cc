#include "cluster/sidecar_launcher.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>

namespace weft::cluster {

namespace {

class ChildSidecar : public Sidecar {
 public:
  ChildSidecar(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  ~ChildSidecar() override {
    terminate();
    wait();
    ::close(fd_);
  }
  int fd() const override { return fd_; }
  pid_t pid() const override { return pid_; }
  // SIGCONT after SIGTERM: a stopped process would otherwise keep the
  // SIGTERM pending and wait() would never return.
  void terminate() override {
    signal(SIGTERM);
    signal(SIGCONT);
  }
  void kill() override { signal(SIGKILL); }
  std::string wait() override {
    // Wait without reaping, then reap under the lock terminate() takes.
    siginfo_t si{};
    while (::waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    std::lock_guard<std::mutex> lk(mu_);
    if (!reaped_) {
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return WIFSIGNALED(status_) ? "signal " + std::to_string(WTERMSIG(status_))
                                : "exit status " + std::to_string(WEXITSTATUS(status_));
  }

 private:
  void signal(int sig) {
    std::lock_guard<std::mutex> lk(mu_);
    if (!reaped_) ::kill(pid_, sig);  // never a pid that may have been reused
    ::shutdown(fd_, SHUT_RDWR);
  }

  const pid_t pid_;
  const int fd_;
  std::mutex mu_;
  bool reaped_ = false;
  int status_ = 0;
};

}  // namespace

Result<SidecarPtr> ProcessLauncher::launch() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return Error::fromErrno(errno, "socketpair");
  std::string self = std::to_string(::getpid());
  std::string uid = std::to_string(uid_), gid = std::to_string(gid_);
  const char* argv[] = {binary_.c_str(),   "--ipc-fd",     "3",
                        "--parent-pid",    self.c_str(),   "--log-level",
                        logLevel_.c_str(), "--log-format", logFormat_.c_str(),
                        "--uid",           uid.c_str(),    "--gid",
                        gid.c_str(),       nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    if (::dup2(sv[1], 3) < 0) ::_exit(127);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(sv[1]);
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    return Error::fromErrno(err, "fork");
  }
  return SidecarPtr(std::make_shared<ChildSidecar>(pid, sv[0]));
}

}  // namespace weft::cluster
