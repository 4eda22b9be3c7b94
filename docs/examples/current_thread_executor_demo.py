import threading
from concurrent.futures import Future

from asgiref.current_thread_executor import CurrentThreadExecutor

main_thread = threading.get_ident()
executor = CurrentThreadExecutor(None)
done: Future[bool] = Future()


def worker() -> None:
    # Submitted from another thread, run by the main thread.
    ran_on_main = executor.submit(
        lambda: threading.get_ident() == main_thread
    ).result()
    done.set_result(ran_on_main)


threading.Thread(target=worker).start()
# The main thread serves the executor until `done` is done.
executor.run_until_future(done)
print("the work ran on the main thread:", done.result())


def too_late() -> None:
    try:
        executor.submit(print, "never runs")
    except RuntimeError as error:
        print("RuntimeError:", error)


late = threading.Thread(target=too_late)
late.start()
late.join()
